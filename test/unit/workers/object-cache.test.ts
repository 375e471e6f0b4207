// ObjectCache: bounded in bytes, hit/miss/eviction counters, bucket generations.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ABSENT_ENTRY, ObjectCache, valueEntry } from '../../../src/workers/object-cache.js';

describe('ObjectCache', () => {
  test('counts hits and misses', () => {
    const cache = new ObjectCache(10_000);
    assert.equal(cache.lookup('b', 'i'), undefined);
    cache.store('b', 'i', valueEntry({ x: 1 }, 10), 1);
    assert.deepEqual(cache.lookup('b', 'i'), valueEntry({ x: 1 }, 10));
    assert.equal(cache.hits, 1);
    assert.equal(cache.misses, 1);
  });

  test('never holds more than its byte budget, evicting least recently used', () => {
    const cache = new ObjectCache(5_000);
    for (let i = 0; i < 200; i++) {
      cache.store(`bucket${i}`, 'list', valueEntry([i], 100 + (i % 50)), 1);
      assert.ok(cache.bytes <= cache.maxBytes, `cache at ${cache.bytes} of ${cache.maxBytes}`);
    }
    assert.ok(cache.evictions > 0);
    assert.notEqual(cache.lookup('bucket199', 'list'), undefined);
    assert.equal(cache.lookup('bucket0', 'list'), undefined);
    assert.ok(cache.bucketCount <= cache.items);
  });

  test('an entry larger than the whole budget is not kept', () => {
    const cache = new ObjectCache(1_000);
    cache.store('b', 'huge', valueEntry('x', 10_000), 1);
    assert.equal(cache.lookup('b', 'huge'), undefined);
    assert.equal(cache.bucketCount, 0);
  });

  test('a task with another generation drops the bucket, other buckets stay', () => {
    const cache = new ObjectCache(10_000);
    cache.store('a', 'x', valueEntry(1, 1), 5);
    cache.store('a', 'y', ABSENT_ENTRY, 5);
    cache.store('b', 'x', valueEntry(2, 1), 9);
    cache.sync('a', 5);
    assert.notEqual(cache.lookup('a', 'x'), undefined);
    cache.sync('a', 6);
    assert.equal(cache.lookup('a', 'x'), undefined);
    assert.equal(cache.lookup('a', 'y'), undefined);
    assert.notEqual(cache.lookup('b', 'x'), undefined);
  });

  test('setGen moves a bucket to the generation its committed job assumed', () => {
    const cache = new ObjectCache(10_000);
    cache.store('a', 'x', valueEntry(1, 1), 5);
    cache.setGen('a', 8);
    cache.sync('a', 8);
    assert.notEqual(cache.lookup('a', 'x'), undefined);
  });

  test('evicting a bucket\'s last item forgets the bucket', () => {
    const cache = new ObjectCache(1_000);
    cache.store('a', 'x', valueEntry(1, 100), 1);
    cache.store('b', 'x', valueEntry(1, 100), 1);
    cache.store('c', 'x', valueEntry(1, 100), 1); // over budget: a goes
    assert.equal(cache.lookup('a', 'x'), undefined);
    assert.equal(cache.bucketCount, cache.items);
  });
});
