// The Backend contract (src/store/backend.ts), as a suite any backend runs:
// round trips for every key shape, overwrite, tombstones, remove, list,
// buckets, flock metadata and reads of what is not there.
// Not a test file itself: backends.test.ts calls backendContract() per backend.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { Backend } from '../../../src/store/backend.js';
import type { ItemHeader, ItemRecord } from '../../../src/store/item-record.js';
import { MAX_SEQ, MAX_TERM, type Version } from '../../../src/store/version.js';

/** Keys of every shape the store must survive, as bucket keys and as item keys. All are valid keys. */
export const KEY_SHAPES: readonly string[] = [
  'a',
  'plain-key_1.txt',
  '.',
  '..',
  '...',
  '.hidden',
  '/',
  '//',
  'a/b',
  '/etc/passwd',
  '../../etc/passwd',
  '..\\..\\x',
  '%',
  '%41',
  '%2E',
  '%2e',
  '~',
  '~x',
  'A',
  'B',
  'b',
  'ABC',
  'abc',
  ' ',
  'with space',
  '\t\n\r',
  '\x01\x7f',
  'CON',
  'nul',
  'a:b*?<>|"',
  'é',
  'naïve café',
  '中文键',
  '😀',
  'a😀b',
  '\u{10ffff}',
  'x'.repeat(256),
  'é'.repeat(128),
  '😀'.repeat(64),
  'a'.repeat(200),
  'a'.repeat(201),
  'A'.repeat(66),
  'A'.repeat(67),
  'a'.repeat(255) + 'b',
  'a'.repeat(255) + 'c',
];

export function version(term: number, seq: number): Version {
  return { term, seq };
}

export function record(
  bucketKey: string,
  itemKey: string,
  v: Version,
  payload: Uint8Array | string = `payload of ${bucketKey} / ${itemKey} at ${v.term}-${v.seq}`,
  extra: { tombstone?: boolean; encoding?: 'raw' | 'msgpack' } = {},
): ItemRecord {
  const tombstone = extra.tombstone ?? false;
  return {
    bucketKey,
    itemKey,
    version: v,
    tombstone,
    encoding: extra.encoding ?? 'raw',
    payload: tombstone ? new Uint8Array(0) : typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
  };
}

export function headerOf(r: ItemRecord): ItemHeader {
  return {
    bucketKey: r.bucketKey,
    itemKey: r.itemKey,
    version: r.version,
    tombstone: r.tombstone,
    encoding: r.encoding,
    size: r.tombstone ? 0 : r.payload.length,
  };
}

/** A record as plain data, payload as a Buffer, so records compare with deepEqual. */
export function plain(r: ItemRecord | undefined): unknown {
  if (r === undefined) return undefined;
  return { ...headerOf(r), payload: Buffer.from(r.payload) };
}

function byItemKey(a: { itemKey: string }, b: { itemKey: string }): number {
  return a.itemKey < b.itemKey ? -1 : a.itemKey > b.itemKey ? 1 : 0;
}

/** list() as plain headers in itemKey order (list promises no order). */
async function listed(backend: Backend, flock: number, bucketKey: string): Promise<ItemHeader[]> {
  const headers = await backend.list(flock, bucketKey);
  return headers.map((h) => ({ ...h })).sort(byItemKey);
}

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of iterable) out.push(key);
  return out;
}

export type MakeBackend = (t: TestContext) => Promise<Backend>;

/**
 * Registers the contract's tests for one backend. `makeBackend` returns a new,
 * empty, not yet opened backend; the suite opens it and closes it after each test.
 */
export function backendContract(name: string, makeBackend: MakeBackend): void {
  async function opened(t: TestContext): Promise<Backend> {
    const backend = await makeBackend(t);
    await backend.open();
    t.after(() => backend.close());
    return backend;
  }

  describe(`${name} keeps the Backend contract`, () => {
    test('a record written under any key shape reads back identical, as bucket key and as item key', async (t) => {
      const backend = await opened(t);
      const records: ItemRecord[] = [];
      KEY_SHAPES.forEach((key, i) => {
        records.push(record(key, key, version(1, i + 1)));
        records.push(record('bucket', key, version(2, i + 1), Buffer.from([i, 255 - i, 0, i])));
        records.push(record(key, 'item', version(3, i + 1), `${key}`, { encoding: 'msgpack' }));
      });
      await backend.write(7, records);
      for (const r of records) {
        assert.deepEqual(plain(await backend.read(7, r.bucketKey, r.itemKey)), plain(r), `${r.bucketKey} / ${r.itemKey}`);
      }
    });

    test('records written one call at a time under every key shape read back identical', async (t) => {
      const backend = await opened(t);
      for (const [i, key] of KEY_SHAPES.entries()) {
        await backend.write(2, [record(key, key, version(5, i))]);
      }
      for (const [i, key] of KEY_SHAPES.entries()) {
        assert.deepEqual(plain(await backend.read(2, key, key)), plain(record(key, key, version(5, i))), key);
      }
    });

    test('keys that differ only in case, or are escapes of each other, stay distinct items', async (t) => {
      const backend = await opened(t);
      const keys = ['A', 'a', '%41', '%2E', '%2e', '.', 'ABC', 'abc', 'a'.repeat(255) + 'b', 'a'.repeat(255) + 'c'];
      await backend.write(1, keys.map((k, i) => record('bucket', k, version(1, i + 1))));
      for (const [i, k] of keys.entries()) {
        assert.deepEqual(plain(await backend.read(1, 'bucket', k)), plain(record('bucket', k, version(1, i + 1))), k);
      }
      assert.equal((await backend.list(1, 'bucket')).length, keys.length);
    });

    test('seq up to MAX_SAFE_INTEGER, term up to 2^32-1 and empty payloads survive a round trip', async (t) => {
      const backend = await opened(t);
      const records = [
        record('b', 'max', version(MAX_TERM, MAX_SEQ)),
        record('b', 'split', version(1, 2 ** 32)),
        record('b', 'empty', version(0, 1), new Uint8Array(0)),
        record('b', 'empty-msgpack', version(0, 2), new Uint8Array(0), { encoding: 'msgpack' }),
      ];
      await backend.write(0, records);
      for (const r of records) assert.deepEqual(plain(await backend.read(0, 'b', r.itemKey)), plain(r), r.itemKey);
      assert.deepEqual(await listed(backend, 0, 'b'), records.map(headerOf).sort(byItemKey));
    });

    test('a written record does not change when the caller later changes its payload buffer', async (t) => {
      const backend = await opened(t);
      const payload = Buffer.from('original');
      await backend.write(4, [record('b', 'i', version(1, 1), payload)]);
      payload.fill(0x21);
      assert.equal(Buffer.from((await backend.read(4, 'b', 'i'))!.payload).toString(), 'original');
    });

    test('an overwrite keeps only the newest record', async (t) => {
      const backend = await opened(t);
      await backend.write(3, [record('b', 'item', version(1, 1), 'first version, longer than the second')]);
      await backend.write(3, [record('b', 'item', version(1, 2), 'second', { encoding: 'msgpack' })]);
      const newest = record('b', 'item', version(2, 3), 'third');
      await backend.write(3, [newest]);
      assert.deepEqual(plain(await backend.read(3, 'b', 'item')), plain(newest));
      assert.deepEqual(await listed(backend, 3, 'b'), [headerOf(newest)]);
    });

    test('a shorter overwrite of a long-keyed (hashed) item leaves no trace of the longer record', async (t) => {
      const backend = await opened(t);
      const key = '😀'.repeat(64);
      await backend.write(3, [record(key, key, version(1, 1), Buffer.alloc(100_000, 7))]);
      const newest = record(key, key, version(1, 2), 'short');
      await backend.write(3, [newest]);
      assert.deepEqual(plain(await backend.read(3, key, key)), plain(newest));
      assert.deepEqual(await listed(backend, 3, key), [headerOf(newest)]);
    });

    test('tombstones are records: read and list return them, with an empty payload', async (t) => {
      const backend = await opened(t);
      await backend.write(5, [record('b', 'gone', version(1, 1), 'alive for now'), record('b', 'kept', version(1, 2))]);
      const tombstone = record('b', 'gone', version(1, 3), '', { tombstone: true });
      await backend.write(5, [tombstone]);
      const read = await backend.read(5, 'b', 'gone');
      assert.ok(read !== undefined);
      assert.equal(read.tombstone, true);
      assert.equal(read.payload.length, 0);
      assert.deepEqual(plain(read), plain(tombstone));
      assert.deepEqual(await listed(backend, 5, 'b'), [headerOf(tombstone), headerOf(record('b', 'kept', version(1, 2)))]);
      assert.deepEqual(await collect(backend.buckets(5)), ['b']);
    });

    test('a tombstone written with a payload keeps no payload', async (t) => {
      const backend = await opened(t);
      const written: ItemRecord = { ...record('b', 't', version(1, 1)), tombstone: true, payload: Buffer.from('ignored') };
      await backend.write(5, [written]);
      const read = await backend.read(5, 'b', 't');
      assert.equal(read?.tombstone, true);
      assert.equal(read?.payload.length, 0);
      assert.equal((await backend.list(5, 'b'))[0]?.size, 0);
    });

    test('remove deletes an item: read gives undefined and list leaves it out; other items stay', async (t) => {
      const backend = await opened(t);
      const other = record('b', 'other', version(1, 2));
      await backend.write(6, [record('b', 'doomed', version(1, 1)), other]);
      await backend.remove(6, 'b', 'doomed');
      assert.equal(await backend.read(6, 'b', 'doomed'), undefined);
      assert.deepEqual(await listed(backend, 6, 'b'), [headerOf(other)]);
      assert.deepEqual(plain(await backend.read(6, 'b', 'other')), plain(other));
    });

    test('removing the last item of a bucket drops the bucket from buckets()', async (t) => {
      const backend = await opened(t);
      const long = 'é'.repeat(128);
      await backend.write(6, [record('b', 'only', version(1, 1)), record(long, long, version(1, 2)), record('c', 'x', version(1, 3))]);
      await backend.remove(6, 'b', 'only');
      await backend.remove(6, long, long);
      assert.deepEqual(await collect(backend.buckets(6)), ['c']);
      assert.deepEqual(await backend.list(6, 'b'), []);
      // The bucket can be used again.
      const again = record('b', 'again', version(1, 4));
      await backend.write(6, [again]);
      assert.deepEqual(plain(await backend.read(6, 'b', 'again')), plain(again));
    });

    test('removing a tombstone deletes it, and removing what does not exist is a no-op', async (t) => {
      const backend = await opened(t);
      await backend.write(8, [record('b', 't', version(1, 1), '', { tombstone: true })]);
      await backend.remove(8, 'b', 't');
      assert.equal(await backend.read(8, 'b', 't'), undefined);
      await backend.remove(8, 'b', 't');
      await backend.remove(8, 'missing bucket', 'missing item');
      await backend.remove(999, 'b', 'x');
      assert.deepEqual(await collect(backend.buckets(8)), []);
    });

    test('every key shape can be removed', async (t) => {
      const backend = await opened(t);
      await backend.write(9, KEY_SHAPES.map((k, i) => record(k, k, version(1, i + 1))));
      for (const k of KEY_SHAPES) await backend.remove(9, k, k);
      for (const k of KEY_SHAPES) assert.equal(await backend.read(9, k, k), undefined, k);
      assert.deepEqual(await collect(backend.buckets(9)), []);
    });

    test("list returns the headers, with versions, of that bucket's items and of no other bucket or flock", async (t) => {
      const backend = await opened(t);
      const long = 'a'.repeat(255) + 'b';
      const mine = [
        record('b1', 'x', version(1, 10), 'x payload'),
        record('b1', long, version(2, 11), Buffer.alloc(3000, 1), { encoding: 'msgpack' }),
        record('b1', 'y', version(3, 12), '', { tombstone: true }),
        record('b1', 'A', version(MAX_TERM, MAX_SEQ)),
      ];
      await backend.write(11, [
        ...mine,
        record('b2', 'x', version(1, 20)),
        record('B1', 'x', version(1, 21)),
        record('b1/x', 'x', version(1, 22)),
        record('b', '1', version(1, 23)),
      ]);
      await backend.write(12, [record('b1', 'w', version(1, 30))]);
      assert.deepEqual(await listed(backend, 11, 'b1'), mine.map(headerOf).sort(byItemKey));
      assert.deepEqual(await listed(backend, 11, 'b2'), [headerOf(record('b2', 'x', version(1, 20)))]);
      assert.deepEqual(await listed(backend, 11, 'B1'), [headerOf(record('B1', 'x', version(1, 21)))]);
      assert.deepEqual(await listed(backend, 12, 'b1'), [headerOf(record('b1', 'w', version(1, 30)))]);
      assert.deepEqual(await backend.list(11, 'b3'), []);
      assert.deepEqual(await backend.list(13, 'b1'), []);
    });

    test('list of a bucket holding every key shape returns each item exactly once', async (t) => {
      const backend = await opened(t);
      const records = KEY_SHAPES.map((k, i) => record('shapes', k, version(1, i + 1)));
      await backend.write(10, records);
      assert.deepEqual(await listed(backend, 10, 'shapes'), records.map(headerOf).sort(byItemKey));
    });

    test('buckets(flock) yields every bucket key of the flock exactly once, hashed long keys included', async (t) => {
      const backend = await opened(t);
      const records: ItemRecord[] = [];
      KEY_SHAPES.forEach((k, i) => {
        records.push(record(k, 'first', version(1, 2 * i)), record(k, k, version(1, 2 * i + 1)));
      });
      await backend.write(3, records);
      await backend.write(4, [record('elsewhere', 'x', version(1, 1))]);
      const yielded = await collect(backend.buckets(3));
      assert.deepEqual([...yielded].sort(), [...KEY_SHAPES].sort());
      assert.deepEqual(await collect(backend.buckets(4)), ['elsewhere']);
      assert.deepEqual(await collect(backend.buckets(5)), []);
    });

    test('flock metadata reads back what was written, per flock, and is absent until written', async (t) => {
      const backend = await opened(t);
      assert.equal(await backend.readFlockMeta(1), undefined);
      const bytes = Buffer.from('{"term":3}\n0\n');
      await backend.writeFlockMeta(1, bytes);
      await backend.writeFlockMeta(2, Uint8Array.from([0, 1, 2, 255]));
      bytes.fill(0); // the caller's buffer is not the stored copy
      assert.deepEqual(Buffer.from((await backend.readFlockMeta(1))!), Buffer.from('{"term":3}\n0\n'));
      assert.deepEqual(Buffer.from((await backend.readFlockMeta(2))!), Buffer.from([0, 1, 2, 255]));
      await backend.writeFlockMeta(1, Buffer.from('shorter'));
      assert.deepEqual(Buffer.from((await backend.readFlockMeta(1))!), Buffer.from('shorter'));
      await backend.writeFlockMeta(1, new Uint8Array(0));
      assert.equal((await backend.readFlockMeta(1))?.length, 0);
      assert.equal(await backend.readFlockMeta(3), undefined);
    });

    test('flock metadata is neither a bucket nor an item', async (t) => {
      const backend = await opened(t);
      await backend.write(1, [record('b', 'x', version(1, 1))]);
      await backend.writeFlockMeta(1, Buffer.from('meta'));
      await backend.writeFlockMeta(2, Buffer.from('meta'));
      assert.deepEqual(await collect(backend.buckets(1)), ['b']);
      assert.deepEqual(await collect(backend.buckets(2)), []);
      assert.equal((await backend.list(1, 'b')).length, 1);
      await backend.remove(1, 'b', 'x');
      assert.deepEqual(Buffer.from((await backend.readFlockMeta(1))!), Buffer.from('meta'));
    });

    test('reading what is not there gives undefined: missing flock, bucket or item', async (t) => {
      const backend = await opened(t);
      assert.equal(await backend.read(0, 'b', 'x'), undefined);
      assert.equal(await backend.read(12345, '..', '..'), undefined);
      await backend.write(1, [record('b', 'x', version(1, 1))]);
      assert.equal(await backend.read(1, 'b', 'y'), undefined);
      assert.equal(await backend.read(1, 'c', 'x'), undefined);
      assert.equal(await backend.read(2, 'b', 'x'), undefined);
      assert.equal(await backend.read(1, 'B', 'x'), undefined);
      assert.equal(await backend.read(1, 'b', 'X'), undefined);
      assert.equal(await backend.read(1, 'b/x', 'x'), undefined);
      assert.equal(await backend.read(1, 'x'.repeat(256), 'x'.repeat(256)), undefined);
      assert.deepEqual(await collect(backend.buckets(0)), []);
    });

    test('writing no records is a no-op', async (t) => {
      const backend = await opened(t);
      await backend.write(1, []);
      assert.deepEqual(await collect(backend.buckets(1)), []);
    });
  });
}
