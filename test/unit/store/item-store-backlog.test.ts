// The backlog of item files written behind the log but not yet fsynced by a checkpoint is
// bounded (unsyncedMax): a checkpoint starts early at the end of a shorter log segment, and
// commits wait while twice the bound is waiting. No acknowledged commit is lost to a crash
// at any point of that, and the log on disk stays small.
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Backend, ItemRef, WriteOptions } from '../../../src/store/backend.js';
import type { ItemRecord } from '../../../src/store/item-record.js';
import { ItemStore } from '../../../src/store/item-store.js';
import { MemoryBackend } from '../../../src/store/memory-backend.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';
import { gate } from '../../helpers/gate.js';

function record(bucketKey: string, seq: number, size = 64): ItemRecord {
  return { bucketKey, itemKey: 'blob', version: { term: 1, seq }, tombstone: false, encoding: 'raw', payload: new Uint8Array(size).fill(seq & 0xff) };
}

/**
 * Item files that survive a crash only once synced: writes land in memory, sync() copies the
 * named items to `durable`, which is what a crash leaves. sync() can be held back.
 */
class VolatileBackend extends MemoryBackend {
  readonly durable = new MemoryBackend();
  hold: Promise<void> | null = null;
  syncs = 0;
  /** Set by a crash: nothing more reaches `durable`. */
  crashed = false;
  override async write(flock: number, records: readonly ItemRecord[], options?: WriteOptions): Promise<void> {
    await super.write(flock, records, options);
    if (options?.durable !== false && !this.crashed) await this.durable.write(flock, records);
  }
  override async sync(items: readonly ItemRef[]): Promise<void> {
    if (this.hold !== null) await this.hold;
    this.syncs++;
    for (const { flock, bucketKey, itemKey } of items) {
      if (this.crashed) return;
      const now = await this.read(flock, bucketKey, itemKey);
      if (now === undefined) await this.durable.remove(flock, bucketKey, itemKey);
      else await this.durable.write(flock, [now]);
    }
  }
}

/**
 * Copies a log folder as a crash leaves it. The store's file operations already handed to
 * libuv's threads finish while the copy runs: a segment they remove midway (one a completed
 * checkpoint made redundant) fails the copy, which then starts over without it.
 */
function copyLiveLog(from: string, to: string): void {
  for (;;) {
    try {
      rmSync(to, { recursive: true, force: true });
      cpSync(from, to, { recursive: true });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** Commits `count` new buckets, `lanes` at a time, calling `each` after every acknowledged commit. */
async function fill(store: ItemStore, count: number, lanes: number, each: () => void): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < count) {
        const i = next++;
        await store.commit(i % 3, [record(`b${i}`, i + 1)]);
        each();
      }
    }),
  );
}

describe('ItemStore unsynced backlog', () => {
  test('stays bounded under sustained writes to new buckets, and the log is checkpointed as it goes', async (t) => {
    const dir = await tempDir(t);
    const backend = new VolatileBackend();
    const store = new ItemStore(backend as Backend, { wal: { dir, fsync: 'never' }, applyDelayMs: 0, unsyncedMax: 50 });
    await store.open();
    let most = 0;
    let segmentsMost = 0;
    let commits = 0;
    await fill(store, 2000, 8, () => {
      most = Math.max(most, store.unsyncedCount);
      if (++commits % 100 === 0) void readdir(dir).then((names) => (segmentsMost = Math.max(segmentsMost, names.length)));
    });
    // Twice the bound, plus what the apply loop had in hand when commits began to wait.
    assert.ok(most <= 2 * 50 + 16 + 8, `at most ${most} item files waited for a checkpoint`);
    assert.ok(backend.syncs >= 2000 / (2 * 50 + 24), `${backend.syncs} checkpoints`);
    assert.ok(segmentsMost <= 4, `${segmentsMost} log segments at once`);
    await store.close();
  });

  test('commits wait while a slow checkpoint holds twice the bound, and go on after it', async (t) => {
    const backend = new VolatileBackend();
    const held = gate();
    const store = new ItemStore(backend as Backend, { wal: { dir: await tempDir(t), fsync: 'never' }, applyDelayMs: 0, unsyncedMax: 10 });
    await store.open();
    backend.hold = held.promise;
    let done = 0;
    const filling = fill(store, 100, 4, () => done++);
    // The first early checkpoint hangs in sync(): admission stops near twice the bound.
    await waitFor(() => store.unsyncedCount >= 20, { what: 'the backlog to reach twice the bound' });
    const stuckAt = done;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(done - stuckAt <= 4, `${done - stuckAt} commits went on while the backlog was full`);
    assert.ok(done < 100);
    backend.hold = null;
    held.open();
    await filling;
    assert.equal(done, 100);
    await store.close();
  });

  test('a crash at any point loses no acknowledged commit (early checkpoints remove only synced segments)', async (t) => {
    for (const crashAfter of [7, 33, 150]) {
      const dir = await tempDir(t);
      const backend = new VolatileBackend();
      const store = new ItemStore(backend as Backend, { wal: { dir, fsync: 'never' }, applyDelayMs: 0, unsyncedMax: 5 });
      await store.open();
      const acknowledged: number[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < crashAfter) {
            const i = next++;
            await store.commit(i % 3, [record(`b${i}`, i + 1)]);
            acknowledged.push(i);
          }
        }),
      );
      // The crash, at once: only what was synced survives in the item files, and the log as it is on
      // disk (copied; the crashed store's background work goes on in the original, unseen).
      // No await between the crash and the copy: the store's background work (a checkpoint whose
      // sync the crash cut short) must not run before the log is copied.
      const left = join(await tempDir(t), 'wal');
      backend.crashed = true;
      copyLiveLog(dir, left);
      const recovered = new ItemStore(backend.durable as Backend, { wal: { dir: left, fsync: 'never' }, applyDelayMs: 0 });
      await recovered.open();
      for (const i of acknowledged) assert.equal((await recovered.read(i % 3, `b${i}`, 'blob'))?.version.seq, i + 1, `bucket b${i} after ${crashAfter} commits`);
      await recovered.close();
      await store.close().catch(() => {});
    }
  });
});
