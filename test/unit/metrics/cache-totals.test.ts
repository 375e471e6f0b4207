// Cache totals of a node from its job threads' counters (src/metrics/cache-totals.ts):
// sums, totals that never go backwards when a thread is replaced, and a poll
// that gives up on a busy thread and shares one poll between callers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CachePoller, CacheTotalsTracker } from '../../../src/metrics/cache-totals.js';
import type { CacheStats } from '../../../src/workers/protocol.js';

function thread(threadId: number, hits: number, misses: number, evictions = 0, bytes = 100): CacheStats {
  return { threadId, hits, misses, evictions, bytes, maxBytes: 1000, items: 2, buckets: 1 };
}

describe('CacheTotalsTracker', () => {
  test('sums the counters of every thread', () => {
    const tracker = new CacheTotalsTracker();
    const totals = tracker.update([thread(1, 5, 2, 1), thread(2, 3, 4, 0, 50)]);
    assert.deepEqual(totals, { hits: 8, misses: 6, evictions: 1, bytes: 150, maxBytes: 2000, items: 4 });
  });

  test('a replaced thread starts from zero, but the totals keep what the old one counted', () => {
    const tracker = new CacheTotalsTracker();
    tracker.update([thread(1, 10, 5, 2), thread(2, 7, 1)]);
    const after = tracker.update([thread(1, 12, 5, 2), thread(3, 1, 1)]);
    assert.equal(after.hits, 12 + 7 + 1);
    assert.equal(after.misses, 5 + 1 + 1);
    assert.equal(after.evictions, 2);
    assert.equal(after.bytes, 200, 'bytes held are only those of live threads');
    assert.equal(tracker.update([]).hits, 20, 'all threads gone: the counts stay');
  });
});

describe('CachePoller', () => {
  test('callers at the same time share one poll of the threads', async () => {
    let polls = 0;
    let answer!: (stats: CacheStats[]) => void;
    const poller = new CachePoller(() => {
      polls++;
      return new Promise((resolve) => (answer = resolve));
    }, 60_000);
    const a = poller.totals();
    const b = poller.totals();
    assert.equal(polls, 1);
    answer([thread(1, 3, 1)]);
    assert.equal((await a).hits, 3);
    assert.equal((await b).hits, 3);
    poller.totals();
    assert.equal(polls, 2, 'a later call polls again');
    answer([thread(1, 4, 1)]);
  });

  test('a thread that does not answer in time: the last known totals', async () => {
    let round = 0;
    const poller = new CachePoller(() => (++round === 1 ? Promise.resolve([thread(1, 9, 1)]) : new Promise<CacheStats[]>(() => {})), 20);
    assert.equal((await poller.totals()).hits, 9);
    assert.equal((await poller.totals()).hits, 9, 'the stuck poll gives the previous answer');
  });

  test('a failed poll gives the last known totals', async () => {
    let round = 0;
    const poller = new CachePoller(() => (++round === 1 ? Promise.resolve([thread(1, 2, 2)]) : Promise.reject(new Error('pool closed'))), 60_000);
    assert.equal((await poller.totals()).misses, 2);
    assert.equal((await poller.totals()).misses, 2);
  });
});
