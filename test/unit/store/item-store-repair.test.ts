// ItemStore with a write-ahead log (FsBackend in a temp dir, the log in
// <dir>/wal) as repair and catch-up use it: a forced commit replaces even a
// newer version (pending or already in its file) with an older one, at once
// and after reopening; purge records remove an item (reads, listings, the
// file) and survive a reopen and a crash; replay after a crash follows log
// order, and an I/O error while replaying many items fails the open and
// keeps the log for the next; listFlock lists tombstones, merges pending records with files,
// honours bucket ranges, and marks damaged files corrupt (payload with
// verify, header always, by name).
import assert from 'node:assert/strict';
import { access, cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { GrexError } from '../../../src/errors.js';
import type { FsyncPolicy, WriteOptions } from '../../../src/store/backend.js';
import { FsBackend } from '../../../src/store/fs-backend.js';
import type { ItemRecord } from '../../../src/store/item-record.js';
import { ItemStore } from '../../../src/store/item-store.js';
import { encodeKeyName } from '../../../src/store/key-names.js';
import type { ListingEntry } from '../../../src/store/listing.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';
import { gate } from '../../helpers/gate.js';

const F = 9;

/** A filesystem backend whose item writes and removals can be held back (records stay pending). */
class HeldFsBackend extends FsBackend {
  hold: Promise<void> | null = null;
  override async write(flock: number, records: readonly ItemRecord[], options?: WriteOptions): Promise<void> {
    if (this.hold !== null) await this.hold;
    return super.write(flock, records, options);
  }
  override async remove(flock: number, bucketKey: string, itemKey: string): Promise<void> {
    if (this.hold !== null) await this.hold;
    return super.remove(flock, bucketKey, itemKey);
  }
}

function rec(bucketKey: string, itemKey: string, term: number, seq: number, tombstone = false): ItemRecord {
  return {
    bucketKey,
    itemKey,
    version: { term, seq },
    tombstone,
    encoding: 'raw',
    payload: tombstone ? new Uint8Array(0) : Buffer.from(`${bucketKey}/${itemKey}@${term}.${seq}`),
  };
}

function purgeOf(bucketKey: string, itemKey: string, term: number, seq: number): ItemRecord {
  return { bucketKey, itemKey, version: { term, seq }, tombstone: false, encoding: 'raw', payload: new Uint8Array(0), purge: true };
}

async function openStore(dir: string, fsync: FsyncPolicy = 'never'): Promise<{ store: ItemStore; backend: HeldFsBackend }> {
  const backend = new HeldFsBackend({ dir, fsync });
  const store = new ItemStore(backend, { wal: { dir: join(dir, 'wal'), fsync } });
  await store.open();
  return { store, backend };
}

const itemPath = (dir: string, bucketKey: string, itemKey: string, flock = F) => join(dir, 'flocks', String(flock), encodeKeyName(bucketKey), encodeKeyName(itemKey));
const exists = (path: string) => access(path).then(
  () => true,
  () => false,
);
const show = (entries: readonly ListingEntry[]) =>
  entries.map((e) => `${e.bucketKey}/${e.itemKey}@${e.term}.${e.seq}${e.tombstone ? 'T' : ''}${e.corrupt === true ? 'C' : ''}`);
const versionOf = async (store: ItemStore, bucketKey: string, itemKey: string) => {
  const r = await store.read(F, bucketKey, itemKey);
  return r === undefined ? undefined : `${r.version.term}.${r.version.seq}`;
};
const payloadOf = async (store: ItemStore, bucketKey: string, itemKey: string) => {
  const r = await store.read(F, bucketKey, itemKey);
  return r === undefined ? undefined : Buffer.from(r.payload).toString();
};

/** The data folder as a crash would leave it now: log, item files and all (the store stays open). */
async function crashImage(t: TestContext, dir: string): Promise<string> {
  const image = await tempDir(t, 'grex-crash-');
  await cp(dir, image, { recursive: true });
  return image;
}

describe('ItemStore forced commits (repair going backwards)', () => {
  test('a forced commit replaces a newer pending version with an older one, at once and after reopening', async (t) => {
    const dir = await tempDir(t);
    const { store, backend } = await openStore(dir);
    const held = gate();
    backend.hold = held.promise;
    await store.commit(F, [rec('b', 'x', 2, 5)]);
    assert.equal(await versionOf(store, 'b', 'x'), '2.5');
    await store.commit(F, [rec('b', 'x', 1, 3)], { force: true });
    assert.equal(await versionOf(store, 'b', 'x'), '1.3');
    assert.equal(await payloadOf(store, 'b', 'x'), 'b/x@1.3');
    assert.deepEqual(show(await store.listFlock(F)), ['b/x@1.3']);
    assert.deepEqual((await store.listLive(F, 'b')).map((h) => h.version), [{ term: 1, seq: 3 }]);
    backend.hold = null;
    held.open();
    await store.close();

    const reopened = await openStore(dir);
    assert.equal(await versionOf(reopened.store, 'b', 'x'), '1.3');
    assert.equal(await payloadOf(reopened.store, 'b', 'x'), 'b/x@1.3');
    await reopened.store.close();
  });

  test('a forced commit replaces a newer version already in its item file', async (t) => {
    const dir = await tempDir(t);
    const { store, backend } = await openStore(dir);
    await store.commit(F, [rec('b', 'x', 2, 5), rec('b', 'y', 2, 6)]);
    await waitFor(async () => (await backend.read(F, 'b', 'x'))?.version.seq === 5, { what: 'x applied to its file' });
    await store.commit(F, [rec('b', 'x', 1, 3), rec('b', 'y', 1, 4, true)], { force: true });
    assert.equal(await versionOf(store, 'b', 'x'), '1.3');
    assert.equal((await store.read(F, 'b', 'y'))?.tombstone, true);
    assert.equal(await store.readLive(F, 'b', 'y'), undefined);
    assert.deepEqual(show(await store.listFlock(F)), ['b/x@1.3', 'b/y@1.4T']);
    await store.close();

    const reopened = await openStore(dir);
    assert.equal(await versionOf(reopened.store, 'b', 'x'), '1.3');
    assert.deepEqual(show(await reopened.store.listFlock(F)), ['b/x@1.3', 'b/y@1.4T']);
    await reopened.store.close();
  });

  test("with fsync 'always': a forced older version replaces a newer one across a reopen", async (t) => {
    const dir = await tempDir(t);
    const first = await openStore(dir, 'always');
    await first.store.commit(F, [rec('b', 'x', 3, 9)]);
    await first.store.close();
    const second = await openStore(dir, 'always');
    assert.equal(await versionOf(second.store, 'b', 'x'), '3.9');
    await second.store.commit(F, [rec('b', 'x', 2, 7)], { force: true });
    assert.equal(await versionOf(second.store, 'b', 'x'), '2.7');
    await second.store.close();
    const third = await openStore(dir, 'always');
    assert.equal(await versionOf(third.store, 'b', 'x'), '2.7');
    assert.equal(await payloadOf(third.store, 'b', 'x'), 'b/x@2.7');
    await third.store.close();
  });
});

describe('ItemStore purge records', () => {
  test('a purge removes an item: reads, listings and, after close, its file; it stays gone after reopening', async (t) => {
    const dir = await tempDir(t);
    const first = await openStore(dir);
    await first.store.commit(F, [rec('b', 'x', 1, 1), rec('b', 'y', 1, 2)]);
    await first.store.close();
    assert.equal(await exists(itemPath(dir, 'b', 'x')), true);

    const { store } = await openStore(dir);
    await store.commit(F, [purgeOf('b', 'x', 1, 1)], { force: true });
    assert.equal(await store.read(F, 'b', 'x'), undefined);
    assert.equal(await store.readLive(F, 'b', 'x'), undefined);
    assert.deepEqual(show(await store.listFlock(F)), ['b/y@1.2']);
    assert.deepEqual((await store.listLive(F, 'b')).map((h) => h.itemKey), ['y']);
    await store.close();
    assert.equal(await exists(itemPath(dir, 'b', 'x')), false);
    assert.equal(await exists(itemPath(dir, 'b', 'y')), true);

    const reopened = await openStore(dir);
    assert.equal(await reopened.store.read(F, 'b', 'x'), undefined);
    assert.deepEqual(show(await reopened.store.listFlock(F)), ['b/y@1.2']);
    await reopened.store.close();
  });

  test('a purge of a pending record (a tombstone, too) wins over it, and its bucket leaves the listing', async (t) => {
    const dir = await tempDir(t);
    const { store, backend } = await openStore(dir);
    const held = gate();
    backend.hold = held.promise;
    await store.commit(F, [rec('b', 'x', 1, 4), rec('c', 't', 1, 5, true)]);
    assert.deepEqual(show(await store.listFlock(F)), ['b/x@1.4', 'c/t@1.5T']);
    await store.commit(F, [purgeOf('b', 'x', 1, 4), purgeOf('c', 't', 1, 5)], { force: true });
    assert.equal(await store.read(F, 'b', 'x'), undefined);
    assert.equal(await store.read(F, 'c', 't'), undefined);
    assert.deepEqual(await store.listFlock(F), []);
    backend.hold = null;
    held.open();
    await store.close();
    assert.equal(await exists(itemPath(dir, 'b', 'x')), false);
    assert.equal(await exists(itemPath(dir, 'c', 't')), false);
    const reopened = await openStore(dir);
    assert.deepEqual(await reopened.store.listFlock(F), []);
    await reopened.store.close();
  });

  test('a purge in the log is replayed after a crash', async (t) => {
    const dir = await tempDir(t);
    const first = await openStore(dir);
    await first.store.commit(F, [rec('b', 'x', 1, 1), rec('b', 'y', 1, 2)]);
    await first.store.close();
    const { store, backend } = await openStore(dir);
    const held = gate();
    backend.hold = held.promise; // the purge is in the log only: the file is still there
    await store.commit(F, [purgeOf('b', 'x', 1, 1)], { force: true });
    const image = await crashImage(t, dir);
    assert.equal(await exists(itemPath(image, 'b', 'x')), true);
    backend.hold = null;
    held.open();
    await store.close();

    const recovered = await openStore(image);
    assert.equal(await recovered.store.read(F, 'b', 'x'), undefined);
    assert.deepEqual(show(await recovered.store.listFlock(F)), ['b/y@1.2']);
    assert.equal(await exists(itemPath(image, 'b', 'x')), false);
    await recovered.store.close();
  });
});

describe('ItemStore replay after a crash', () => {
  test('replay follows log order: v5 then a forced v3 leaves v3, even over a file holding v5', async (t) => {
    const dir = await tempDir(t);
    const { store, backend } = await openStore(dir);
    await store.commit(F, [rec('b', 'x', 2, 5), rec('b', 'y', 1, 3)]);
    await waitFor(async () => (await backend.read(F, 'b', 'x'))?.version.seq === 5 && (await backend.read(F, 'b', 'y')) !== undefined, {
      what: 'x and y applied to their files',
    });
    const held = gate();
    backend.hold = held.promise;
    await store.commit(F, [rec('b', 'x', 1, 3)], { force: true });
    await store.commit(F, [rec('b', 'y', 2, 6)]);
    const image = await crashImage(t, dir);
    backend.hold = null;
    held.open();
    await store.close();
    // The crash image: x's file holds 2.5, the log holds 2.5 then 1.3 (forced); y: 1.3 then 2.6.
    assert.equal((await new FsBackend({ dir: image }).read(F, 'b', 'x'))?.version.seq, 5);

    const recovered = await openStore(image);
    assert.equal(await versionOf(recovered.store, 'b', 'x'), '1.3');
    assert.equal(await payloadOf(recovered.store, 'b', 'x'), 'b/x@1.3');
    assert.equal(await versionOf(recovered.store, 'b', 'y'), '2.6');
    assert.deepEqual(show(await recovered.store.listFlock(F)), ['b/x@1.3', 'b/y@2.6']);
    await recovered.store.close();
    const again = await openStore(image);
    assert.equal(await versionOf(again.store, 'b', 'x'), '1.3');
    await again.store.close();
  });
});

describe('ItemStore replay of many items', () => {
  test('an I/O error on one item fails the open and keeps the log; the next open replays every item', async (t) => {
    const dir = await tempDir(t);
    const { store, backend } = await openStore(dir);
    const held = gate();
    backend.hold = held.promise; // every commit stays in the log only
    const keys = Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    for (const [i, key] of keys.entries()) await store.commit(F, [rec('b', key, 1, i + 1)]);
    const image = await crashImage(t, dir);
    backend.hold = null;
    held.open();
    await store.close();

    // Replay writes several items at once: one failing write stops it, and the open fails.
    class FailingFsBackend extends FsBackend {
      writes = 0;
      override async write(flock: number, records: readonly ItemRecord[], options?: WriteOptions): Promise<void> {
        this.writes++;
        if (records.some((r) => r.itemKey === 'k17')) throw new GrexError('GREX_ERR_STORE_IO', 'disk says no');
        return super.write(flock, records, options);
      }
    }
    const failing = new FailingFsBackend({ dir: image, fsync: 'never' });
    await assert.rejects(new ItemStore(failing, { wal: { dir: join(image, 'wal'), fsync: 'never' } }).open(), (err: GrexError) => err.code === 'GREX_ERR_STORE_IO');
    assert.ok(failing.writes < keys.length, `replay went on after the failure (${failing.writes} writes)`);

    const recovered = await openStore(image);
    for (const [i, key] of keys.entries()) assert.equal(await versionOf(recovered.store, 'b', key), `1.${i + 1}`);
    await recovered.store.close();
  });
});

describe('ItemStore.listFlock', () => {
  test('lists tombstones with the live items, sorted by bucket and item', async (t) => {
    const dir = await tempDir(t);
    const { store } = await openStore(dir);
    await store.commit(F, [rec('m', 'z', 1, 1), rec('a', 'gone', 1, 2, true), rec('a', 'here', 1, 3)]);
    await store.commit(F + 1, [rec('a', 'other-flock', 1, 4)]);
    assert.deepEqual(show(await store.listFlock(F)), ['a/gone@1.2T', 'a/here@1.3', 'm/z@1.1']);
    assert.deepEqual((await store.listLive(F, 'a')).map((h) => h.itemKey), ['here']);
    await store.close();
    const reopened = await openStore(dir);
    assert.deepEqual(show(await reopened.store.listFlock(F)), ['a/gone@1.2T', 'a/here@1.3', 'm/z@1.1']);
    await reopened.store.close();
  });

  test('merges pending records with item files', async (t) => {
    const dir = await tempDir(t);
    const first = await openStore(dir);
    await first.store.commit(F, [rec('p', 'a', 1, 1), rec('p', 'b', 1, 2), rec('r', 'c', 1, 3)]);
    await first.store.close();
    const { store, backend } = await openStore(dir);
    const held = gate();
    backend.hold = held.promise;
    await store.commit(F, [rec('p', 'b', 1, 5), rec('q', 'new', 1, 6), rec('r', 'c', 1, 7, true)]);
    await store.commit(F, [purgeOf('p', 'a', 1, 1)], { force: true });
    await store.commit(F + 1, [rec('p', 'elsewhere', 1, 8)]);
    const expected = ['p/b@1.5', 'q/new@1.6', 'r/c@1.7T'];
    assert.deepEqual(show(await store.listFlock(F)), expected);
    backend.hold = null;
    held.open();
    await store.close();
    const reopened = await openStore(dir);
    assert.deepEqual(show(await reopened.store.listFlock(F)), expected);
    await reopened.store.close();
  });

  test('honours from/to bucket ranges, for files and pending records alike', async (t) => {
    const dir = await tempDir(t);
    const first = await openStore(dir);
    await first.store.commit(F, [rec('a', 'i', 1, 1), rec('c', 'i', 1, 3)]);
    await first.store.close();
    const { store, backend } = await openStore(dir);
    const held = gate();
    backend.hold = held.promise;
    await store.commit(F, [rec('b', 'i', 1, 2), rec('d', 'i', 1, 4)]);
    const buckets = async (from: string | null, to: string | null) => show(await store.listFlock(F, { from, to })).map((s) => s[0]);
    assert.deepEqual(await buckets(null, null), ['a', 'b', 'c', 'd']);
    assert.deepEqual(await buckets('b', 'd'), ['b', 'c']);
    assert.deepEqual(await buckets(null, 'b'), ['a']);
    assert.deepEqual(await buckets('c', null), ['c', 'd']);
    assert.deepEqual(await buckets('bb', 'c'), []);
    assert.deepEqual(await buckets('a', 'a'), []);
    assert.deepEqual(show(await store.listFlock(F, {})), ['a/i@1.1', 'b/i@1.2', 'c/i@1.3', 'd/i@1.4']);
    backend.hold = null;
    held.open();
    await store.close();
  });

  test('with verify, a file whose payload was damaged is listed as corrupt, and pace is told the bytes read', async (t) => {
    const dir = await tempDir(t);
    const first = await openStore(dir);
    await first.store.commit(F, [rec('b', 'good', 1, 1), rec('b', 'bad', 1, 2), rec('b', 'gone', 1, 3, true), rec('c', 'also-good', 1, 4)]);
    await first.store.close();
    const path = itemPath(dir, 'b', 'bad');
    const bytes = await readFile(path);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await writeFile(path, bytes);

    const { store } = await openStore(dir);
    // Headers are intact: a listing without verify cannot tell.
    assert.deepEqual(show(await store.listFlock(F)), ['b/bad@1.2', 'b/gone@1.3T', 'b/good@1.1', 'c/also-good@1.4']);
    const paced: number[] = [];
    const verified = await store.listFlock(F, { verify: true, pace: async (n) => void paced.push(n) });
    assert.deepEqual(show(verified), ['b/bad@1.2C', 'b/gone@1.3T', 'b/good@1.1', 'c/also-good@1.4']);
    const healthy = ['b/good@1.1', 'c/also-good@1.4'].map((s) => Buffer.byteLength(s));
    assert.deepEqual(
      [...paced].sort((a, b) => a - b),
      [0, ...healthy].sort((a, b) => a - b),
      'one call per healthy record with its payload bytes (a tombstone has none)',
    );
    await assert.rejects(store.read(F, 'b', 'bad'), (err: unknown) => err instanceof GrexError && err.code === 'GREX_ERR_STORE_CORRUPT');
    await store.close();
  });

  test('a file whose header is damaged is listed as corrupt by its name, with or without verify', async (t) => {
    const dir = await tempDir(t);
    const first = await openStore(dir);
    const itemKey = 'Odd Name.v2';
    await first.store.commit(F, [rec('b', itemKey, 4, 2), rec('b', 'fine', 4, 3)]);
    await first.store.close();
    const path = itemPath(dir, 'b', itemKey);
    const bytes = await readFile(path);
    bytes[12] = bytes[12]! ^ 0x01; // the term: the header checksum no longer matches
    await writeFile(path, bytes);

    const { store } = await openStore(dir);
    for (const verify of [false, true]) {
      const listing = await store.listFlock(F, { verify });
      const damaged = listing.find((e) => e.itemKey === itemKey);
      assert.ok(damaged !== undefined, `verify ${verify}: the damaged item is listed`);
      assert.equal(damaged.corrupt, true);
      assert.equal(damaged.bucketKey, 'b');
      assert.deepEqual(
        listing.filter((e) => e.corrupt !== true).map((e) => e.itemKey),
        ['fine'],
      );
    }
    await assert.rejects(store.read(F, 'b', itemKey), (err: unknown) => err instanceof GrexError && err.code === 'GREX_ERR_STORE_CORRUPT');
    // A repair (forced commit) replaces the damaged file.
    await store.commit(F, [rec('b', itemKey, 4, 2)], { force: true });
    await store.close();
    const reopened = await openStore(dir);
    assert.deepEqual(show(await reopened.store.listFlock(F, { verify: true })), ['b/Odd Name.v2@4.2', 'b/fine@4.3']);
    await reopened.store.close();
  });
});
