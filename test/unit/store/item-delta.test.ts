// List-append deltas (src/store/item-delta.ts): the payload round-trips; a delta
// fits only its base version; composing appends and trims like the job did, passes
// over deltas an item already holds, leaves out those with a gap, and gives the same
// bytes whether deltas are folded one by one or together (so every node and every
// replay arrives at the same item).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { itemCodec } from '../../../src/codec.js';
import { composeItem, decodeListAppend, deltaFit, encodeListAppend, MAX_KEEP } from '../../../src/store/item-delta.js';
import { decodeItemRecord, encodeItemRecord, type ItemRecord } from '../../../src/store/item-record.js';
import { NO_VERSION } from '../../../src/store/version.js';
import { appendRecord as append, listRecord as whole, v } from '../../helpers/list-records.js';

const valueOf = (record: ItemRecord | undefined) => (record === undefined ? undefined : itemCodec.unpack(record.payload));

describe('list-append deltas', () => {
  test('the payload round-trips, seqs above 32 bits included, and survives an item record', () => {
    const base = { term: 0xffffffff, seq: 2 ** 40 + 7 };
    const values = itemCodec.pack([{ a: 1 }, 'two']);
    const decoded = decodeListAppend(encodeListAppend({ base, keep: MAX_KEEP, values }));
    assert.deepEqual(decoded.base, base);
    assert.equal(decoded.keep, MAX_KEEP);
    assert.deepEqual(itemCodec.unpack(decoded.values), [{ a: 1 }, 'two']);
    const record = decodeItemRecord(encodeItemRecord(append(9, v(8), [1, 2], 5)), 'test');
    assert.equal(record.delta, true);
    assert.deepEqual(decodeListAppend(record.payload).base, v(8));
  });

  test('a payload that is not a list append is refused as corrupt', () => {
    for (const payload of [new Uint8Array(0), new Uint8Array(19), new Uint8Array(30).fill(2)]) {
      assert.throws(() => decodeListAppend(payload), (err: { code?: string }) => err.code === 'GREX_ERR_STORE_CORRUPT');
    }
  });

  test('a delta applies to its base version only; at or after its own version it is held; otherwise there is a gap', () => {
    const delta = append(5, v(3), [1]);
    assert.equal(deltaFit(v(3), delta), 'applies');
    assert.equal(deltaFit(v(5), delta), 'held');
    assert.equal(deltaFit(v(9), delta), 'held');
    assert.equal(deltaFit(v(4), delta), 'gap', 'a version between base and delta is another history');
    assert.equal(deltaFit(v(2), delta), 'gap');
    assert.equal(deltaFit(v(3, 2), delta), 'held', 'a newer term is beyond the delta');
    assert.equal(deltaFit(NO_VERSION, append(1, NO_VERSION, [1])), 'applies', 'an append to an absent item names version 0-0');
  });

  test('appends to an absent item, a tombstone and a list, and keeps the last `keep` values', () => {
    assert.deepEqual(valueOf(composeItem(undefined, [append(1, NO_VERSION, ['a', 'b'])]).record), ['a', 'b']);
    const tombstone: ItemRecord = { ...whole(4, null), tombstone: true, payload: new Uint8Array(0) };
    assert.deepEqual(valueOf(composeItem(tombstone, [append(5, v(4), ['x'])]).record), ['x']);
    const composed = composeItem(whole(1, [1, 2, 3]), [append(2, v(1), [4, 5], 4), append(3, v(2), [6], 4)]);
    assert.deepEqual(valueOf(composed.record), [3, 4, 5, 6]);
    assert.deepEqual(composed.record!.version, v(3));
    assert.equal(composed.record!.encoding, 'msgpack');
    assert.equal(composed.applied, 2);
  });

  test('passes over deltas the base already holds and leaves out those with a gap', () => {
    const deltas = [append(2, v(1), ['b']), append(3, v(2), ['c']), append(4, v(3), ['d'])];
    // The item file was written after the first two were composed in.
    const fileAt3 = composeItem(whole(1, ['a']), deltas.slice(0, 2)).record!;
    const fromFile = composeItem(fileAt3, deltas);
    assert.deepEqual(valueOf(fromFile.record), ['a', 'b', 'c', 'd']);
    assert.equal(fromFile.applied, 1);
    const gap = composeItem(whole(1, ['a']), [append(3, v(2), ['c'])]);
    assert.deepEqual(gap.skipped.map((d) => d.version.seq), [3]);
    assert.equal(gap.applied, 0);
    assert.deepEqual(valueOf(gap.record), ['a'], 'the base is returned unchanged');
  });

  test('folding deltas one at a time, or all at once, gives the same bytes as encoding the final list', () => {
    const record = (i: number) => ({ description: `coffee ${i}`, amount: i / 10, date: new Date(1_700_000_000_000 + i) });
    let list = Array.from({ length: 20 }, (_, i) => record(i));
    const base = whole(1, list);
    const deltas: ItemRecord[] = [];
    for (let seq = 2; seq <= 30; seq++) {
      deltas.push(append(seq, v(seq - 1), [record(100 + seq)], 25));
      list = [...list, record(100 + seq)].slice(-25);
    }
    const together = composeItem(base, deltas).record!;
    let stepwise: ItemRecord = base;
    for (const delta of deltas) stepwise = composeItem(stepwise, [delta]).record!;
    assert.deepEqual(Buffer.from(together.payload), Buffer.from(stepwise.payload));
    assert.deepEqual(Buffer.from(together.payload), Buffer.from(itemCodec.pack(list)));
    assert.deepEqual(itemCodec.unpack(together.payload), list);
  });

  test('a base that is not a msgpack list composes as an empty list, the same way everywhere', () => {
    const notList = whole(1, { a: 1 });
    assert.deepEqual(valueOf(composeItem(notList, [append(2, v(1), [7])]).record), [7]);
    const garbage: ItemRecord = { ...whole(1, null), encoding: 'raw', payload: new Uint8Array([0xc1]) };
    assert.deepEqual(valueOf(composeItem(garbage, [append(2, v(1), [7])]).record), [7]);
  });
});
