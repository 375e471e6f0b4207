// ItemStore with deltas (list appends): an append is readable at once as the whole
// item and head() gives its version without composing; a hot item is written to its
// file once per apply delay (sooner under memory pressure or at close), not once per
// commit; a delta fits only its base version (a whole commit fails, or with `partial`
// it is left out and returned); replay after a crash gives exactly the item the live
// store had, whatever the item file held at the crash; deltas never build on a
// damaged file; listings show whole items; without a log, deltas are composed at once.
import assert from 'node:assert/strict';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { itemCodec } from '../../../src/codec.js';
import type { ItemRef, WriteOptions } from '../../../src/store/backend.js';
import { FsBackend } from '../../../src/store/fs-backend.js';
import { encodeListAppend } from '../../../src/store/item-delta.js';
import type { ItemRecord } from '../../../src/store/item-record.js';
import { ItemStore, type ItemStoreOptions } from '../../../src/store/item-store.js';
import { encodeKeyName } from '../../../src/store/key-names.js';
import { MemoryBackend } from '../../../src/store/memory-backend.js';
import { NO_VERSION, type Version } from '../../../src/store/version.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';
import { gate } from '../../helpers/gate.js';

const F = 4;
const v = (seq: number, term = 1): Version => ({ term, seq });

function whole(itemKey: string, seq: number, value: unknown, term = 1): ItemRecord {
  return { bucketKey: 'b', itemKey, version: v(seq, term), tombstone: false, encoding: 'msgpack', payload: itemCodec.pack(value) };
}

function append(itemKey: string, seq: number, base: Version, values: unknown[], keep = 0, term = 1): ItemRecord {
  return {
    bucketKey: 'b',
    itemKey,
    version: v(seq, term),
    tombstone: false,
    encoding: 'msgpack',
    payload: encodeListAppend({ base, keep, values: itemCodec.pack(values) }),
    delta: true,
  };
}

/** A filesystem backend that counts item writes and can hold back writes and syncs (so checkpoints wait). */
class WatchedFsBackend extends FsBackend {
  hold: Promise<void> | null = null;
  holdSync: Promise<void> | null = null;
  writes = 0;
  /** Of those, items composed on the file thread. */
  composed = 0;
  /** Writes begun, held or not. */
  writesBegun = 0;
  override async write(flock: number, records: readonly ItemRecord[], options?: WriteOptions): Promise<void> {
    this.writesBegun++;
    if (this.hold !== null) await this.hold;
    this.writes += records.length;
    return super.write(flock, records, options);
  }
  /** Composed items (the file thread composes and writes them) count and wait the same way. */
  override writeComposed(...args: Parameters<FsBackend['writeComposed']>): ReturnType<FsBackend['writeComposed']> {
    this.writesBegun++;
    return (async () => {
      if (this.hold !== null) await this.hold;
      this.writes++;
      this.composed++;
      const written = super.writeComposed(...args);
      if (written === undefined) throw new Error('the backend is closed');
      return written;
    })();
  }
  override async sync(items: readonly ItemRef[]): Promise<void> {
    if (this.holdSync !== null) await this.holdSync;
    return super.sync(items);
  }
}

/** A memory backend that counts writes and reads and keeps nothing it is asked to sync. */
class CountingBackend extends MemoryBackend {
  writes = 0;
  reads = 0;
  override async read(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    this.reads++;
    return super.read(flock, bucketKey, itemKey);
  }
  override async write(flock: number, records: readonly ItemRecord[], options?: WriteOptions): Promise<void> {
    this.writes += records.length;
    return super.write(flock, records, options);
  }
  override async sync(_items: readonly ItemRef[]): Promise<void> {}
}

async function openFs(dir: string, options: ItemStoreOptions = {}, segmentBytes?: number): Promise<{ store: ItemStore; backend: WatchedFsBackend }> {
  const backend = new WatchedFsBackend({ dir, fsync: 'never' });
  const wal = segmentBytes === undefined ? { dir: join(dir, 'wal'), fsync: 'never' as const } : { dir: join(dir, 'wal'), fsync: 'never' as const, segmentBytes };
  const store = new ItemStore(backend, { wal, ...options });
  await store.open();
  return { store, backend };
}

async function crashImage(t: TestContext, dir: string): Promise<string> {
  const image = await tempDir(t, 'grex-crash-');
  await cp(dir, image, { recursive: true });
  return image;
}

const valueOf = async (store: ItemStore, itemKey: string) => {
  const record = await store.read(F, 'b', itemKey);
  return record === undefined ? undefined : itemCodec.unpack(record.payload);
};

/** Reopens a crash image and checks every item reads back byte for byte as the live store had it. */
async function assertReplaysAs(image: string, live: Map<string, ItemRecord | undefined>): Promise<void> {
  const { store } = await openFs(image, { applyDelayMs: 0 });
  for (const [itemKey, expected] of live) {
    const recovered = await store.read(F, 'b', itemKey);
    if (expected === undefined) {
      assert.equal(recovered, undefined, itemKey);
      continue;
    }
    assert.deepEqual(recovered?.version, expected.version, itemKey);
    assert.equal(recovered?.tombstone, expected.tombstone, itemKey);
    assert.deepEqual(Buffer.from(recovered!.payload), Buffer.from(expected.payload), `${itemKey}: ${JSON.stringify(itemCodec.unpack(recovered!.payload))}`);
  }
  await store.close();
}

describe('ItemStore deltas', () => {
  test('an append is readable at once as the whole item; head gives its version and a size bound without composing', async (t) => {
    const { store } = await openFs(await tempDir(t));
    await store.commit(F, [whole('list', 1, ['a'])]);
    await store.commit(F, [append('list', 2, v(1), ['b', 'c'], 2)]);
    const head = await store.head(F, 'b', 'list');
    assert.deepEqual(head?.version, v(2));
    assert.equal(head?.tombstone, false);
    assert.ok(head!.size >= itemCodec.pack(['b', 'c']).byteLength);
    assert.deepEqual(await valueOf(store, 'list'), ['b', 'c']);
    assert.deepEqual((await store.read(F, 'b', 'list'))?.version, v(2));
    await store.commit(F, [append('fresh', 3, NO_VERSION, [1])]);
    assert.deepEqual(await valueOf(store, 'fresh'), [1], 'an append to an absent item starts a list');
    const listed = await store.listLive(F, 'b');
    assert.deepEqual(
      listed.map((h) => [h.itemKey, h.version.seq, h.size]),
      [
        ['fresh', 3, itemCodec.pack([1]).byteLength],
        ['list', 2, itemCodec.pack(['b', 'c']).byteLength],
      ],
      'listings show the whole items and their sizes',
    );
    assert.deepEqual(
      (await store.listFlock(F)).map((e) => `${e.itemKey}@${e.seq}`),
      ['fresh@3', 'list@2'],
    );
    await store.close();
  });

  test('a hot item is written to its file once per apply delay, not once per commit', async (t) => {
    const backend = new CountingBackend();
    const store = new ItemStore(backend, { wal: { dir: await tempDir(t), fsync: 'never' }, applyDelayMs: 60_000 });
    await store.open();
    await store.commit(F, [whole('list', 1, [])]);
    for (let seq = 2; seq <= 101; seq++) await store.commit(F, [append('list', seq, v(seq - 1), [seq], 50)]);
    assert.equal(backend.writes, 0, 'nothing written before the delay');
    assert.equal(await backend.read(F, 'b', 'list'), undefined);
    assert.deepEqual(await valueOf(store, 'list'), Array.from({ length: 50 }, (_, i) => 52 + i));
    await store.close();
    assert.equal(backend.writes, 1, 'one write at close');
    assert.deepEqual(itemCodec.unpack((await backend.read(F, 'b', 'list'))!.payload), Array.from({ length: 50 }, (_, i) => 52 + i));
  });

  test('once the delay passed, the item file holds every delta; a short delay still coalesces', async (t) => {
    const dir = await tempDir(t);
    const { store, backend } = await openFs(dir, { applyDelayMs: 30 });
    await store.commit(F, [whole('list', 1, [0])]);
    for (let seq = 2; seq <= 40; seq++) await store.commit(F, [append('list', seq, v(seq - 1), [seq])]);
    await waitFor(async () => (await backend.read(F, 'b', 'list'))?.version.seq === 40, { what: 'the file at version 40' });
    assert.ok(backend.writes < 40, `${backend.writes} writes for 40 commits`);
    // Every write but perhaps one of the first whole item alone composed deltas, on the file thread.
    assert.ok(backend.composed >= 1 && backend.writes - backend.composed <= 1, `the deltas composed on the file thread (${backend.composed} of ${backend.writes} writes)`);
    assert.deepEqual(itemCodec.unpack((await backend.read(F, 'b', 'list'))!.payload), [0, ...Array.from({ length: 39 }, (_, i) => i + 2)]);
    await store.close();
  });

  test('an item rewritten faster than the delay does not hold back the items behind it', async (t) => {
    // The item first in line is replaced by whole records (and a purge) again and again; each must
    // keep the time it started waiting, or the items queued behind it are never due.
    const backend = new CountingBackend();
    const store = new ItemStore(backend, { wal: { dir: await tempDir(t), fsync: 'never' }, applyDelayMs: 40 });
    await store.open();
    await store.commit(F, [whole('hot', 1, 0)]);
    await store.commit(F, [whole('cold', 2, 'c')]);
    let seq = 3;
    const deadline = Date.now() + 10_000;
    while ((await backend.read(F, 'b', 'cold')) === undefined && Date.now() < deadline) {
      const record = seq % 7 === 0 ? { ...whole('hot', seq, null), purge: true } : whole('hot', seq, seq);
      await store.commit(F, [record], { force: true });
      seq++;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.deepEqual((await backend.read(F, 'b', 'cold'))?.version, v(2), `cold written while hot was rewritten ${seq - 3} times`);
    await store.close();
  });

  test("a hot list's next appends build on the item last written to its file, not on the file read back", async (t) => {
    const backend = new CountingBackend();
    const store = new ItemStore(backend, { wal: { dir: await tempDir(t), fsync: 'never' }, applyDelayMs: 0 });
    await store.open();
    await store.commit(F, [whole('list', 1, [1])]);
    await waitFor(() => backend.writes === 1, { what: 'the whole list written' });
    for (let seq = 2; seq <= 10; seq++) {
      await store.commit(F, [append('list', seq, v(seq - 1), [seq], 5)]);
      await waitFor(() => backend.writes === seq, { what: `version ${seq} written` });
    }
    assert.equal(backend.reads, 1, 'the file was read once, for the first append');
    const expected = [6, 7, 8, 9, 10];
    assert.deepEqual(itemCodec.unpack((await backend.read(F, 'b', 'list'))!.payload), expected);
    assert.deepEqual(await valueOf(store, 'list'), expected);
    // A whole record replaces the file: the next append builds on the file again, not on an old body.
    await store.commit(F, [whole('list', 11, ['w'])]);
    await waitFor(() => backend.writes === 11, { what: 'the whole record written' });
    const readsBefore = backend.reads;
    await store.commit(F, [append('list', 12, v(11), ['x'], 5)]);
    await waitFor(() => backend.writes === 12, { what: 'version 12 written' });
    assert.equal(backend.reads, readsBefore + 1);
    assert.deepEqual(itemCodec.unpack((await backend.read(F, 'b', 'list'))!.payload), ['w', 'x']);
    await store.close();
  });

  test('with memory short, items are written at once', async (t) => {
    const backend = new CountingBackend();
    const store = new ItemStore(backend, { wal: { dir: await tempDir(t), fsync: 'never' }, applyDelayMs: 60_000, pendingBytesMax: 100 });
    await store.open();
    await store.commit(F, [whole('big', 1, 'x'.repeat(200))]);
    await waitFor(() => backend.writes === 1, { what: 'the item written without waiting for the delay' });
    await store.close();
  });

  test('a delta on another version than the item holds: the commit fails whole, or with partial the delta is left out', async (t) => {
    const { store } = await openFs(await tempDir(t));
    await store.commit(F, [whole('list', 1, ['a'])]);
    await assert.rejects(
      store.commit(F, [whole('other', 2, 'o'), append('list', 3, v(7), ['x'])]),
      (err: { code?: string }) => err.code === 'GREX_ERR_INTERNAL',
    );
    assert.equal(await store.read(F, 'b', 'other'), undefined, 'nothing of the failed commit is stored');
    assert.deepEqual(await valueOf(store, 'list'), ['a']);
    const gap = append('list', 4, v(3), ['y']);
    const held = append('list', 1, NO_VERSION, ['z']);
    const left = await store.commit(F, [whole('other', 5, 'o'), gap, held], { partial: true });
    assert.deepEqual(left, [gap, held]);
    assert.equal(await valueOf(store, 'other'), 'o');
    assert.deepEqual(await valueOf(store, 'list'), ['a']);
    // Within one commit, a delta may build on a record before it.
    await store.commit(F, [whole('seq', 6, [1]), append('seq', 7, v(6), [2])]);
    assert.deepEqual(await valueOf(store, 'seq'), [1, 2]);
    await store.close();
  });

  test('replay gives the item the live store had: over a file whose record left the log, over a file written midway, after a forced older record, after a purge', async (t) => {
    const dir = await tempDir(t);
    // Tiny segments: every commit closes one, so checkpoints remove records already in their files.
    const { store, backend } = await openFs(dir, { applyDelayMs: 0 }, 64);
    const live = async (...keys: string[]) => new Map(await Promise.all(keys.map(async (k) => [k, await store.read(F, 'b', k)] as const)));
    const segments = async () => (await readdir(join(dir, 'wal'))).length;
    await store.commit(F, [whole('list', 1, ['a']), whole('gone', 2, [1])]);
    await waitFor(async () => (await backend.read(F, 'b', 'list'))?.version.seq === 1 && (await segments()) === 1, {
      what: 'the base in its file and out of the log',
    });

    // 1. The base only in its file, the deltas only in the log; a read folded some into a whole base in memory.
    let held = gate();
    backend.hold = held.promise;
    await store.commit(F, [append('list', 3, v(1), ['b'], 10)]);
    await store.commit(F, [append('list', 4, v(3), ['c'], 10)]);
    assert.deepEqual(await valueOf(store, 'list'), ['a', 'b', 'c']);
    await store.commit(F, [append('list', 5, v(4), ['d'], 10)]);
    await assertReplaysAs(await crashImage(t, dir), await live('list'));

    // 2. The file written midway (at version 5) while the log still holds the deltas it has, and two more.
    const syncHeld = gate();
    backend.holdSync = syncHeld.promise;
    backend.hold = null;
    held.open();
    await waitFor(async () => (await backend.read(F, 'b', 'list'))?.version.seq === 5, { what: 'version 5 in the file' });
    held = gate();
    backend.hold = held.promise;
    await store.commit(F, [append('list', 6, v(5), ['e'], 10)]);
    await store.commit(F, [append('list', 7, v(6), ['f'], 10)]);
    assert.deepEqual(await valueOf(store, 'list'), ['a', 'b', 'c', 'd', 'e', 'f']);
    await assertReplaysAs(await crashImage(t, dir), await live('list'));

    // 3. A forced older record (repair), then appends on it; a purge, then an append on nothing.
    await store.commit(F, [whole('list', 4, ['z'])], { force: true });
    await store.commit(F, [append('list', 8, v(4), ['y'], 10, 2)]);
    await store.commit(F, [{ ...whole('gone', 2, null), payload: new Uint8Array(0), purge: true }], { force: true });
    await store.commit(F, [append('gone', 9, NO_VERSION, ['new'], 0, 2)]);
    const expected = await live('list', 'gone');
    assert.deepEqual(itemCodec.unpack(expected.get('list')!.payload), ['z', 'y']);
    assert.deepEqual(itemCodec.unpack(expected.get('gone')!.payload), ['new']);
    await assertReplaysAs(await crashImage(t, dir), expected);

    backend.holdSync = null;
    syncHeld.open();
    backend.hold = null;
    held.open();
    await store.close();
    await assertReplaysAs(dir, expected);
  });

  test('a log segment holding deltas that came while their item was being written stays until they are in the file', async (t) => {
    const dir = await tempDir(t);
    const { store, backend } = await openFs(dir, { applyDelayMs: 200 }, 64);
    const segments = async () => (await readdir(join(dir, 'wal'))).length;
    await store.commit(F, [whole('list', 1, ['a'])]);
    await waitFor(async () => (await backend.read(F, 'b', 'list'))?.version.seq === 1 && (await segments()) === 1, { what: 'the base in its file, out of the log' });
    let held = gate();
    backend.hold = held.promise;
    const begun = backend.writesBegun;
    await store.commit(F, [append('list', 2, v(1), ['b'])]);
    await waitFor(() => backend.writesBegun === begun + 1, { what: 'version 2 being written' });
    await store.commit(F, [append('list', 3, v(2), ['c'])]); // comes while version 2 is being written
    backend.hold = null;
    held.open();
    await waitFor(async () => (await backend.read(F, 'b', 'list'))?.version.seq === 2, { what: 'version 2 in the file' });
    // Version 3 waits for the delay; a checkpoint meanwhile must not remove its segment.
    held = gate();
    backend.hold = held.promise;
    await waitFor(() => backend.writesBegun === begun + 2, { what: 'version 3 being written' });
    const expected = new Map([['list', await store.read(F, 'b', 'list')]]);
    assert.deepEqual(itemCodec.unpack(expected.get('list')!.payload), ['a', 'b', 'c']);
    await assertReplaysAs(await crashImage(t, dir), expected);
    backend.hold = null;
    held.open();
    await store.close();
  });

  test('deltas never build on a damaged item file: refused at commit, dropped if found when writing; the item reads as damaged', async (t) => {
    const dir = await tempDir(t);
    const first = await openFs(dir);
    await first.store.commit(F, [whole('list', 1, ['a']), whole('later', 2, ['a'])]);
    await first.store.close();
    const errors: Error[] = [];
    const { store } = await openFs(dir, { applyDelayMs: 60_000, onError: (err) => errors.push(err) });
    const damage = async (itemKey: string) => {
      const path = join(dir, 'flocks', String(F), encodeKeyName('b'), encodeKeyName(itemKey));
      const raw = await readFile(path);
      raw[raw.length - 1] = raw[raw.length - 1]! ^ 0xff;
      await writeFile(path, raw);
    };
    const isCorrupt = (err: { code?: string }) => err.code === 'GREX_ERR_STORE_CORRUPT';
    await damage('list');
    const delta = append('list', 3, v(1), ['b']);
    assert.deepEqual(await store.commit(F, [delta], { partial: true }), [delta], 'a herder names it missing');
    await assert.rejects(store.commit(F, [delta]), isCorrupt);
    await assert.rejects(store.read(F, 'b', 'list'), isCorrupt);

    // Damaged after the delta was taken, before it was composed into the file.
    await store.commit(F, [append('later', 4, v(2), ['b'])]);
    await damage('later');
    await assert.rejects(store.read(F, 'b', 'later'), isCorrupt);
    await store.close();
    assert.ok(errors.some((err) => isCorrupt(err as { code?: string })), 'the dropped deltas are reported');
    const reopened = await openFs(dir);
    await assert.rejects(reopened.store.read(F, 'b', 'later'), isCorrupt, 'still damaged (for repair), not an older version');
    await reopened.store.close();
  });
});

describe('ItemStore deltas without a log', () => {
  test('are composed on the stored item at once; a gap fails the commit or, with partial, is returned', async () => {
    const backend = new MemoryBackend();
    const store = new ItemStore(backend);
    await store.open();
    await store.commit(F, [whole('list', 1, [1])]);
    await store.commit(F, [append('list', 2, v(1), [2, 3], 2)]);
    assert.deepEqual(itemCodec.unpack((await backend.read(F, 'b', 'list'))!.payload), [2, 3]);
    assert.deepEqual((await store.head(F, 'b', 'list'))?.version, v(2));
    await assert.rejects(store.commit(F, [append('list', 3, v(1), [4])]), (err: { code?: string }) => err.code === 'GREX_ERR_INTERNAL');
    const gap = append('list', 3, v(1), [4]);
    assert.deepEqual(await store.commit(F, [gap], { partial: true }), [gap]);
    assert.deepEqual((await store.read(F, 'b', 'list'))?.version, v(2));
    await store.close();
  });
});
