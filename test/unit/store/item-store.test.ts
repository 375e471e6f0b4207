// ItemStore over a write-ahead log: commits are visible at once and reach item
// files behind the log; listings never miss a commit; applying that fails is
// retried while reads go on; memory is bounded; a clean close leaves no log.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Backend, ItemRef, WriteOptions } from '../../../src/store/backend.js';
import { FsBackend } from '../../../src/store/fs-backend.js';
import type { ItemRecord } from '../../../src/store/item-record.js';
import { ItemStore } from '../../../src/store/item-store.js';
import { MemoryBackend } from '../../../src/store/memory-backend.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';
import { gate } from '../../helpers/gate.js';

function record(itemKey: string, seq: number, size = 10, bucketKey = 'b'): ItemRecord {
  return { bucketKey, itemKey, version: { term: 1, seq }, tombstone: false, encoding: 'raw', payload: new Uint8Array(size).fill(seq & 0xff) };
}

/** A backend whose writes can be held back or made to fail. */
class ControlledBackend extends MemoryBackend {
  hold: Promise<void> | null = null;
  failures = 0;
  writes = 0;
  override async write(flock: number, records: readonly ItemRecord[], options?: WriteOptions): Promise<void> {
    if (this.hold !== null) await this.hold;
    if (this.failures > 0) {
      this.failures--;
      throw Object.assign(new Error('disk says no'), { code: 'EIO' });
    }
    this.writes++;
    return super.write(flock, records, options);
  }
  override async sync(_items: readonly ItemRef[]): Promise<void> {}
}

describe('ItemStore with a write-ahead log', () => {
  test('a commit is readable at once, before its item file is written', async (t) => {
    const backend = new ControlledBackend();
    const held = gate();
    backend.hold = held.promise;
    const store = new ItemStore(backend as Backend, { wal: { dir: await tempDir(t), fsync: 'never' } });
    await store.open();
    await store.commit(3, [record('a', 1), record('b', 2)]);
    assert.equal((await store.read(3, 'b', 'a'))?.version.seq, 1);
    assert.deepEqual((await store.listLive(3, 'b')).map((h) => h.itemKey), ['a', 'b']);
    assert.equal(await backend.read(3, 'b', 'a'), undefined);
    held.open();
    await waitFor(async () => (await backend.read(3, 'b', 'a')) !== undefined, { what: 'the item file' });
    backend.hold = null;
    await store.close();
  });

  test('a later commit of the same item wins, however the writes interleave', async (t) => {
    const backend = new ControlledBackend();
    const store = new ItemStore(backend as Backend, { wal: { dir: await tempDir(t), fsync: 'never' } });
    await store.open();
    for (let seq = 1; seq <= 50; seq++) await store.commit(0, [record('x', seq)]);
    assert.equal((await store.read(0, 'b', 'x'))?.version.seq, 50);
    await store.close();
    assert.equal((await backend.read(0, 'b', 'x'))?.version.seq, 50);
  });

  test('applying that fails is retried; reads see the commit meanwhile', async (t) => {
    const backend = new ControlledBackend();
    backend.failures = 2;
    const errors: Error[] = [];
    const store = new ItemStore(backend as Backend, { wal: { dir: await tempDir(t), fsync: 'never' }, onError: (err) => errors.push(err) });
    await store.open();
    await store.commit(0, [record('a', 1)]);
    assert.equal((await store.read(0, 'b', 'a'))?.version.seq, 1);
    await waitFor(async () => (await backend.read(0, 'b', 'a')) !== undefined, { what: 'the retried write', timeoutMs: 60_000 });
    assert.ok(errors.length >= 1);
    await store.close();
  });

  test('commits wait while too many bytes are not yet in item files', async (t) => {
    const backend = new ControlledBackend();
    const held = gate();
    backend.hold = held.promise;
    const store = new ItemStore(backend as Backend, { wal: { dir: await tempDir(t), fsync: 'never' }, pendingBytesMax: 1500 });
    await store.open();
    await store.commit(0, [record('a', 1, 800)]);
    const one = store.pendingBytes; // 800 bytes and the record's overhead
    await store.commit(0, [record('b', 2, 800)]); // one <= 1500 when it started
    let third = false;
    const waiting = store.commit(0, [record('c', 3, 800)]).then(() => (third = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(third, false);
    assert.ok(one >= 800 && one <= 1500);
    assert.equal(store.pendingBytes, 2 * one);
    backend.hold = null;
    held.open();
    await waiting;
    await store.close();
  });

  test('a clean close writes everything to item files and leaves no log segment', async (t) => {
    const dir = await tempDir(t);
    const store = new ItemStore(new FsBackend({ dir, fsync: 'always' }), { wal: { dir: join(dir, 'wal'), fsync: 'always', segmentBytes: 2000 } });
    await store.open();
    for (let i = 0; i < 40; i++) await store.commit(i % 4, [record(`k${i % 7}`, i + 1, 300, `bucket${i % 3}`)]);
    await store.close();
    assert.deepEqual(await readdir(join(dir, 'wal')), []);
    const reopened = new ItemStore(new FsBackend({ dir, fsync: 'always' }), { wal: { dir: join(dir, 'wal'), fsync: 'always' } });
    const report = await reopened.open();
    assert.equal(report.replayedCommits, 0);
    for (let i = 33; i < 40; i++) assert.equal((await reopened.read(i % 4, `bucket${i % 3}`, `k${i % 7}`))?.version.seq, i + 1);
    await reopened.close();
  });

  test('listings see every committed item, also while it is being applied', async (t) => {
    const store = new ItemStore(new FsBackend({ dir: await tempDir(t), fsync: 'never' }), { wal: { dir: join(await tempDir(t), 'wal'), fsync: 'never' } });
    await store.open();
    for (let seq = 1; seq <= 200; seq++) {
      await store.commit(1, [record('doc', seq, 1 + (seq % 3))]);
      const [header] = await store.listLive(1, 'b');
      assert.equal(header?.version.seq, seq);
    }
    await store.close();
  });
});
