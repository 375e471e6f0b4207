// The pure helpers of the leadership bleets (src/cluster/flock-wire.ts): listing
// entries through their wire form and back (tombstone and damage flags), the
// pages a sync cuts a listing into (whole buckets, contiguous ranges), the purge
// record of an entry, and the stale-term refusal with and without `stored: false`.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ListingEntry } from '../../../src/cluster/flock-listing.js';
import { fromWire, pageListing, purgeOf, staleTerm, toWire } from '../../../src/cluster/flock-wire.js';

function entry(bucketKey: string, itemKey: string, extra: Partial<ListingEntry> = {}): ListingEntry {
  return { bucketKey, itemKey, term: 3, seq: 7, tombstone: false, ...extra };
}

describe('toWire and fromWire', () => {
  test('an entry comes back as it went, flags included', () => {
    for (const e of [entry('b', 'i'), entry('b', 'i', { tombstone: true }), entry('b', 'i', { corrupt: true }), entry('b', 'i', { tombstone: true, corrupt: true })]) {
      assert.deepEqual(fromWire(toWire(e)), e);
    }
  });

  test('the flags are one number: 1 for a tombstone, 2 for damage', () => {
    assert.equal(toWire(entry('b', 'i'))[4], 0);
    assert.equal(toWire(entry('b', 'i', { tombstone: true }))[4], 1);
    assert.equal(toWire(entry('b', 'i', { corrupt: true }))[4], 2);
    assert.equal(toWire(entry('b', 'i', { tombstone: true, corrupt: true }))[4], 3);
  });
});

describe('pageListing', () => {
  test('an empty listing is one page covering everything', () => {
    assert.deepEqual(pageListing([]), [{ from: null, to: null, entries: [] }]);
  });

  test('pages hold whole buckets of 256 and follow one another', () => {
    const listing: ListingEntry[] = [];
    for (let b = 0; b < 600; b++) for (let i = 0; i < 2; i++) listing.push(entry(`b${String(b).padStart(4, '0')}`, `i${i}`));
    const pages = pageListing(listing);
    assert.equal(pages.length, 3);
    assert.deepEqual(pages.map((p) => p.entries.length), [512, 512, 176]);
    assert.equal(pages[0]!.from, null);
    assert.equal(pages.at(-1)!.to, null);
    for (let i = 1; i < pages.length; i++) {
      assert.equal(pages[i]!.from, pages[i - 1]!.to);
      assert.equal(pages[i]!.entries[0]!.bucketKey, pages[i]!.from);
    }
    assert.deepEqual(pages.flatMap((p) => p.entries), listing);
  });

  test('a big bucket is never split: a page ends after 4096 entries only at a bucket boundary', () => {
    const listing: ListingEntry[] = [];
    for (let i = 0; i < 5000; i++) listing.push(entry('a', `i${String(i).padStart(5, '0')}`));
    listing.push(entry('b', 'x'));
    const pages = pageListing(listing);
    assert.deepEqual(pages.map((p) => [p.from, p.to, p.entries.length]), [
      [null, 'b', 5000],
      ['b', null, 1],
    ]);
  });
});

describe('purgeOf and staleTerm', () => {
  test('a purge record names the listed version and carries nothing', () => {
    const record = purgeOf(entry('b', 'i', { tombstone: true }));
    assert.deepEqual(record.version, { term: 3, seq: 7 });
    assert.equal(record.purge, true);
    assert.equal(record.payload.byteLength, 0);
  });

  test('a stale term says the promised term, and `stored: false` only when nothing was stored', () => {
    const stored = staleTerm(4, 9, 'sync refused');
    assert.equal(stored.code, 'GREX_ERR_STALE_TERM');
    assert.equal(stored.message, 'sync refused: flock 4 has a newer term (9)');
    assert.deepEqual(stored.data, { flock: 4, promised: 9, retryAfterSeconds: 1 });
    assert.deepEqual(staleTerm(4, 9, 'claim', true).data, { flock: 4, promised: 9, retryAfterSeconds: 1, stored: false });
  });
});
