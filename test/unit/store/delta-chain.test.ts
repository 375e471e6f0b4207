// DeltaChain (src/store/delta-chain.ts): deltas kept back to back come out as the
// records that went in, with their segments; dropping the first ones keeps the rest;
// records handed out earlier stay intact while the chain grows and drops.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeltaChain } from '../../../src/store/delta-chain.js';
import type { ItemRecord } from '../../../src/store/item-record.js';

function delta(seq: number, size: number): ItemRecord {
  return {
    bucketKey: 'b',
    itemKey: 'list',
    version: { term: 2, seq },
    tombstone: false,
    encoding: 'msgpack',
    payload: new Uint8Array(size).fill(seq & 0xff),
    delta: true,
  };
}

const plain = (records: ItemRecord[]) => records.map((r) => ({ ...r, payload: Buffer.from(r.payload).toString('hex') }));

describe('DeltaChain', () => {
  test('gives back the records pushed, in order, with their segments and the last version', () => {
    const chain = new DeltaChain('b', 'list');
    assert.equal(chain.lastVersion(), undefined);
    const pushed = Array.from({ length: 50 }, (_, i) => delta(i + 1, 1 + ((i * 37) % 300)));
    pushed.forEach((d, i) => chain.push(d, 10 + Math.floor(i / 7)));
    assert.equal(chain.length, 50);
    assert.equal(chain.byteLength, pushed.reduce((n, d) => n + d.payload.byteLength, 0));
    assert.deepEqual(plain(chain.records()), plain(pushed));
    assert.deepEqual(plain(chain.records(3)), plain(pushed.slice(0, 3)));
    assert.deepEqual(chain.segments(8), [10, 10, 10, 10, 10, 10, 10, 11]);
    assert.deepEqual(chain.lastVersion(), { term: 2, seq: 50 });
  });

  test('drops the first deltas; records taken before stay as they were', () => {
    const chain = new DeltaChain('b', 'list');
    const pushed = Array.from({ length: 20 }, (_, i) => delta(i + 1, 90));
    pushed.forEach((d, i) => chain.push(d, i));
    const before = chain.records();
    const copy = plain(before);
    chain.dropFirst(15);
    for (let i = 20; i < 40; i++) chain.push(delta(i + 1, 120), i);
    assert.deepEqual(plain(before), copy, 'earlier records are not changed by dropping or growing');
    assert.equal(chain.length, 25);
    assert.deepEqual(plain(chain.records(5)), plain(pushed.slice(15)));
    assert.deepEqual(chain.segments(6), [15, 16, 17, 18, 19, 20]);
    chain.dropFirst(25);
    assert.equal(chain.length, 0);
    assert.equal(chain.byteLength, 0);
    assert.equal(chain.lastVersion(), undefined);
  });
});
