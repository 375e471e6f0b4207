// The records of a replication bleet as the bleet server reads them
// (decodeRecords in src/node/bleet-server.ts): every record is of the flock the
// bleet names, with valid keys, and a delta is a readable list append that is
// not also a tombstone or a purge; anything else is GREX_ERR_BLEET_INVALID.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { itemCodec } from '../../../src/codec.js';
import { GrexError } from '../../../src/errors.js';
import { flockOf } from '../../../src/keys.js';
import { decodeRecords } from '../../../src/node/bleet-server.js';
import { encodeListAppend } from '../../../src/store/item-delta.js';
import { encodeItemRecord, type ItemRecord } from '../../../src/store/item-record.js';

const FLOCKS = 4;

/** A bucket key of the given flock. */
function bucketIn(flock: number): string {
  for (let i = 0; ; i++) if (flockOf(`b${i}`, FLOCKS) === flock) return `b${i}`;
}

function whole(bucketKey: string, overrides: Partial<ItemRecord> = {}): ItemRecord {
  return { bucketKey, itemKey: 'item', version: { term: 1, seq: 1 }, tombstone: false, encoding: 'msgpack', payload: itemCodec.pack({ n: 1 }), ...overrides };
}

function append(bucketKey: string, overrides: Partial<ItemRecord> = {}): ItemRecord {
  const payload = encodeListAppend({ base: { term: 1, seq: 1 }, keep: 0, values: itemCodec.pack([2]) });
  return whole(bucketKey, { itemKey: 'list', version: { term: 1, seq: 2 }, payload, delta: true, ...overrides });
}

function invalid(message: RegExp) {
  return (err: unknown) => err instanceof GrexError && err.code === 'GREX_ERR_BLEET_INVALID' && message.test(err.message);
}

describe('decodeRecords', () => {
  test('records of the flock come back as they were sent, deltas included', () => {
    const bucketKey = bucketIn(2);
    const sent = [whole(bucketKey), append(bucketKey)];
    const got = decodeRecords(2, sent.map(encodeItemRecord), FLOCKS);
    assert.equal(got.length, sent.length);
    const fields = (r: ItemRecord) => [r.bucketKey, r.itemKey, r.version, r.tombstone, r.delta === true, Buffer.from(r.payload).toString('hex')];
    assert.deepEqual(got.map(fields), sent.map(fields));
  });

  test('a record of another flock is refused', () => {
    assert.throws(() => decodeRecords(2, [encodeItemRecord(whole(bucketIn(3)))], FLOCKS), invalid(/is not in flock 2/));
  });

  test('a delta that is also a tombstone is refused', () => {
    const bucketKey = bucketIn(1);
    assert.throws(() => decodeRecords(1, [encodeItemRecord(append(bucketKey, { tombstone: true }))], FLOCKS), invalid(/also a tombstone or purge/));
  });

  test('a delta whose payload is not a list append is refused', () => {
    const bucketKey = bucketIn(0);
    const bad = append(bucketKey, { payload: new Uint8Array([9, 9, 9]) });
    assert.throws(() => decodeRecords(0, [encodeItemRecord(bad)], FLOCKS), invalid(/^replicated write of flock 0: /));
  });
});
