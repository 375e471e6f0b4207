// ctx.append in the worker's job context, over a real ObjectCache and a fake store
// channel: it changes the cached list in place and returns its length; only the
// appended values are encoded when the job returns (one delta per item, with keep);
// mixed with get, put, delete and other appends in one job it behaves as that
// sequence of writes would; a non-list item, bad values or a bad keep are refused.
// A put of a large item the thread has cached is packed in place (no copy).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { itemCodec } from '../../../src/codec.js';
import type { ItemEncoding } from '../../../src/store/item-record.js';
import { WorkerJobContext } from '../../../src/workers/job-context.js';
import { ObjectCache } from '../../../src/workers/object-cache.js';
import type { StorePort } from '../../../src/workers/store-port.js';

const BUCKET = 'customer-1';

/** A store channel over a map of stored items, counting reads. */
function fakeStore(items: Record<string, { bytes: Uint8Array; encoding: ItemEncoding }>): StorePort & { reads: number } {
  const port = {
    reads: 0,
    async get(_bucketKey: string, itemKey: string) {
      port.reads++;
      return items[itemKey];
    },
    async keys() {
      return Object.keys(items).sort();
    },
  };
  return port as unknown as StorePort & { reads: number };
}

function setup(items: Record<string, unknown> = {}, raw: Record<string, Uint8Array> = {}) {
  const stored: Record<string, { bytes: Uint8Array; encoding: ItemEncoding }> = {};
  for (const [key, value] of Object.entries(items)) stored[key] = { bytes: itemCodec.pack(value), encoding: 'msgpack' };
  for (const [key, bytes] of Object.entries(raw)) stored[key] = { bytes, encoding: 'raw' };
  const cache = new ObjectCache(1 << 20);
  const store = fakeStore(stored);
  return { cache, store, ctx: () => new WorkerJobContext(BUCKET, 1, cache, store) };
}

const isInvalid = (err: { code?: string }) => err.code === 'GREX_ERR_ITEM_VALUE_INVALID';

describe('ctx.append', () => {
  test('appends to the cached list in place and returns its length; only the new values are encoded', async () => {
    const { cache, store, ctx } = setup({ orders: [{ id: 1 }, { id: 2 }] });
    const first = ctx();
    const cached = await first.get<unknown[]>('orders');
    assert.equal(await first.append('orders', [{ id: 3 }]), 3);
    assert.deepEqual(cached, [{ id: 1 }, { id: 2 }, { id: 3 }], 'the cached object itself changed');
    assert.equal(await first.get('orders'), cached);
    const [change, ...rest] = first.close();
    assert.equal(rest.length, 0);
    assert.equal(change!.appendKeep, 0);
    assert.equal(change!.encoding, 'msgpack');
    assert.deepEqual(itemCodec.unpack(change!.bytes!), [{ id: 3 }], 'only the appended value travels');
    for (const c of [change!]) cache.store(BUCKET, c.itemKey, c.entry, 1);
    // The next job finds the list in the cache, without a store read.
    const reads = store.reads;
    const second = ctx();
    assert.equal(await second.append('orders', [{ id: 4 }]), 4);
    assert.equal(store.reads, reads);
  });

  test('keep drops the oldest values; appends with the same keep in one job make one delta', async () => {
    const { ctx } = setup({ log: [1, 2, 3, 4] });
    const job = ctx();
    assert.equal(await job.append('log', [5, 6], { keep: 5 }), 5);
    assert.equal(await job.append('log', [7], { keep: 5 }), 5);
    assert.deepEqual(await job.get('log'), [3, 4, 5, 6, 7]);
    const [change] = job.close();
    assert.equal(change!.appendKeep, 5);
    assert.deepEqual(itemCodec.unpack(change!.bytes!), [5, 6, 7]);
  });

  test('an absent item starts as an empty list', async () => {
    const { ctx } = setup();
    const job = ctx();
    assert.equal(await job.append('new', ['a', 'b'], { keep: 1 }), 1);
    assert.deepEqual(await job.get('new'), ['b']);
    assert.deepEqual(await job.keys(), ['new']);
    const [change] = job.close();
    assert.deepEqual(itemCodec.unpack(change!.bytes!), ['a', 'b'], 'the delta carries the values; keep is applied where it lands');
    assert.equal(change!.appendKeep, 1);
  });

  test('mixed with other writes of the item in one job: the job stores what that sequence means', async () => {
    const { ctx } = setup({ l: [1] });
    // put after append: a put.
    let job = ctx();
    await job.append('l', [2]);
    job.put('l', ['p']);
    let [change] = job.close();
    assert.equal(change!.appendKeep, undefined);
    assert.deepEqual(itemCodec.unpack(change!.bytes!), ['p']);
    // append after put: a put of the list with the values.
    job = ctx();
    job.put('l', ['p']);
    assert.equal(await job.append('l', ['q']), 2);
    [change] = job.close();
    assert.equal(change!.appendKeep, undefined);
    assert.deepEqual(itemCodec.unpack(change!.bytes!), ['p', 'q']);
    // append after delete: a new list.
    job = ctx();
    job.delete('l');
    assert.equal(await job.append('l', ['n']), 1);
    [change] = job.close();
    assert.deepEqual(itemCodec.unpack(change!.bytes!), ['n']);
    // delete after append: a delete.
    job = ctx();
    await job.append('l', ['x']);
    job.delete('l');
    [change] = job.close();
    assert.equal(change!.bytes, null);
    // Appends with different keeps: the list is stored whole.
    job = ctx();
    const length = await job.append('l', ['a'], { keep: 10 });
    assert.equal(await job.append('l', ['b'], { keep: 2 }), 2);
    assert.ok(length >= 1);
    [change] = job.close();
    assert.equal(change!.appendKeep, undefined);
    assert.deepEqual(itemCodec.unpack(change!.bytes!), ['a', 'b']);
  });

  test('getBytes after an append gives the whole list encoded', async () => {
    const { ctx } = setup({ l: [1] });
    const job = ctx();
    await job.append('l', [2]);
    assert.deepEqual(itemCodec.unpack((await job.getBytes('l'))!), [1, 2]);
  });

  test('a raw item that holds a msgpack list can be appended to', async () => {
    const { ctx } = setup({}, { r: itemCodec.pack(['raw']) });
    const job = ctx();
    assert.equal(await job.append('r', ['more']), 2);
    const [change] = job.close();
    assert.deepEqual(itemCodec.unpack(change!.bytes!), ['more']);
  });

  test('refuses an item that is not a list, values that are not a list, and a bad keep', async () => {
    const { ctx } = setup({ map: { a: 1 }, l: [] }, { bin: new Uint8Array([0xc1]) });
    const job = ctx();
    await assert.rejects(job.append('map', [1]), isInvalid);
    await assert.rejects(job.append('bin', [1]), isInvalid);
    await assert.rejects(job.append('l', 'x' as unknown as unknown[]), isInvalid);
    for (const keep of [0, -1, 1.5, 2 ** 32, Number.NaN]) await assert.rejects(job.append('l', [1], { keep }), isInvalid, `keep ${keep}`);
    await assert.rejects(job.append('', [1]), (err: { code?: string }) => err.code === 'GREX_ERR_KEY_INVALID');
    job.put('p', { not: 'a list' });
    await assert.rejects(job.append('p', [1]), isInvalid);
  });

  test('an append not awaited before the job returned fails instead of changing anything', async () => {
    const { ctx } = setup({ l: [1] });
    const job = ctx();
    const late = job.append('l', [2]);
    assert.deepEqual(job.close(), []);
    await assert.rejects(late, (err: { code?: string }) => err.code === 'GREX_ERR_JOB_FAILED');
  });
});

describe('ctx.put of a large item', () => {
  const list = (round: number) => Array.from({ length: 4000 }, (_, i) => ({ description: `record ${i}`, amount: (i + round) / 100 }));

  test('an item this thread has cached is packed in place, into a buffer sized from its cached size', async () => {
    const { cache, ctx } = setup({ records: list(0) });
    const job = ctx();
    const cached = await job.get<{ amount: number }[]>('records');
    cached![7] = { ...cached![7]!, amount: 99 } as never;
    job.put('records', cached);
    const [change] = job.close();
    const size = itemCodec.pack(cached).byteLength;
    assert.deepEqual(itemCodec.unpack(change!.bytes!), cached);
    assert.equal(change!.bytes!.byteOffset, 0);
    assert.ok(change!.bytes!.buffer.byteLength > size, `packed into a buffer made for it (${change!.bytes!.buffer.byteLength} for ${size} bytes), not copied out`);
    // A new item (no size known yet) is packed and copied at its exact size.
    const other = ctx();
    other.put('fresh', list(1));
    const [fresh] = other.close();
    assert.equal(fresh!.bytes!.buffer.byteLength, fresh!.bytes!.byteLength);
    assert.deepEqual([cache.hits, cache.misses], [0, 1], 'the get missed once; looking up the size counts nothing');
  });
});
