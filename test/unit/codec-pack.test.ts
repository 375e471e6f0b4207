// packItemOwned (src/codec.ts): a value packed straight into a buffer of its
// own when its probable size is known (no copy), else packed and copied; the
// result is never written over by later packs of the thread, its buffer can
// be transferred, and a value larger than expected is still packed whole.
// bytesToKeep: bytes that fill their own buffer are kept, views copied.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bytesToKeep, itemCodec, packItemOwned, PACK_IN_PLACE_MIN_BYTES, wireCodec } from '../../src/codec.js';

/** A list of records like the benchmark's, about `n` × 40 bytes packed. */
function records(n: number, round = 0): { description: string; amount: number; date: Date }[] {
  return Array.from({ length: n }, (_, i) => ({ description: `record ${i}`, amount: (i + round) / 100, date: new Date(Date.UTC(2013, 0, 1) + i * 1000) }));
}

describe('packItemOwned', () => {
  const value = records(5000);
  const size = itemCodec.pack(value).byteLength;

  test('packs in place into a buffer sized from the expected size: the bytes start it and are the usual encoding', () => {
    assert.ok(size >= PACK_IN_PLACE_MIN_BYTES, `the test value is large enough (${size} bytes)`);
    const packed = packItemOwned(value, size);
    assert.equal(packed.byteOffset, 0);
    assert.equal(packed.buffer.byteLength, Math.ceil(size * 1.0625) + 4096, 'the buffer made for it, not a copy of exactly its size');
    assert.deepEqual(Buffer.from(packed), Buffer.from(itemCodec.pack(value)));
    assert.deepEqual(itemCodec.unpack(packed), value);
  });

  test('later packs of the thread, with any codec, never write into the result or its buffer', () => {
    const packed = packItemOwned(value, size);
    const whole = new Uint8Array(packed.buffer);
    const before = Buffer.from(whole);
    for (let i = 0; i < 50; i++) {
      itemCodec.pack(records(200, i));
      wireCodec.pack({ i, text: 'x'.repeat(i * 10) });
    }
    const again = packItemOwned(records(5000, 1), size);
    assert.ok(Buffer.from(whole).equals(before), 'the buffer handed out, its unused tail included, is untouched');
    assert.deepEqual(itemCodec.unpack(again), records(5000, 1));
  });

  test('the result buffer can be transferred; packing goes on afterwards', () => {
    const packed = packItemOwned(value, size);
    const moved = structuredClone(packed, { transfer: [packed.buffer as ArrayBuffer] });
    assert.equal(packed.byteLength, 0, 'detached here');
    assert.deepEqual(itemCodec.unpack(moved), value);
    assert.deepEqual(itemCodec.unpack(itemCodec.pack(records(300))), records(300));
    assert.deepEqual(itemCodec.unpack(packItemOwned(value, size)), value);
  });

  test('a value larger than expected is packed whole, into a buffer of its own', () => {
    const packed = packItemOwned(value, PACK_IN_PLACE_MIN_BYTES);
    assert.equal(packed.byteOffset, 0);
    assert.equal(packed.buffer.byteLength, packed.byteLength, 'copied out at its exact size');
    assert.deepEqual(itemCodec.unpack(packed), value);
  });

  test('without an expected size, or a small one, the value is packed and copied', () => {
    for (const expected of [undefined, 100, Number.NaN]) {
      const packed = packItemOwned(value, expected);
      assert.equal(packed.buffer.byteLength, size, String(expected));
      assert.deepEqual(itemCodec.unpack(packed), value);
    }
  });

  test('a value that cannot be encoded throws, and packing works afterwards', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => packItemOwned({ big: value, bad: () => 1, cyclic }, size));
    assert.deepEqual(itemCodec.unpack(packItemOwned(value, size)), value);
  });
});

describe('bytesToKeep', () => {
  test('keeps bytes that span an ArrayBuffer of their own as they are', () => {
    const joined = Buffer.concat([Buffer.alloc(40_000, 1), Buffer.alloc(40_000, 2)]);
    assert.equal(bytesToKeep(joined), joined);
    const plain = new Uint8Array(10);
    assert.equal(bytesToKeep(plain), plain);
  });

  test('copies a view into a larger buffer, and a small Buffer from the shared pool', () => {
    const big = new Uint8Array(100);
    for (const view of [big.subarray(10, 20), big.subarray(0, 99), Buffer.from('pooled bytes')]) {
      const kept = bytesToKeep(view);
      assert.notEqual(kept.buffer, view.buffer);
      assert.equal(kept.byteLength, kept.buffer.byteLength);
      assert.deepEqual(Buffer.from(kept), Buffer.from(view));
    }
  });
});
