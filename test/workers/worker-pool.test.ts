// The job threads: bucket affinity, the decoded-object cache (hits, byte budget,
// coherence after failures), and timeouts that replace a thread without harming others.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { rejection, startTestNode } from '../helpers/nodes.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

type Where = { threadId: number; runs: number };

describe('bucket affinity', () => {
  test('every job of a bucket runs on the same thread, and buckets use every thread', async (t) => {
    const node = await startTestNode(t);
    const threadsByBucket = new Map<string, Set<number>>();
    const jobs = [];
    for (let round = 0; round < 5; round++) {
      for (let b = 0; b < 16; b++) {
        jobs.push(
          node.submit<Where>(`bucket-${b}`, 'where').then(({ result }) => {
            const set = threadsByBucket.get(`bucket-${b}`) ?? new Set();
            set.add(result.threadId);
            threadsByBucket.set(`bucket-${b}`, set);
          }),
        );
      }
    }
    await Promise.all(jobs);
    for (const [bucket, threads] of threadsByBucket) assert.equal(threads.size, 1, `${bucket} ran on threads ${[...threads]}`);
    const used = new Set([...threadsByBucket.values()].map((s) => [...s][0]));
    assert.equal(used.size, 2);
  });
});

describe('object cache', () => {
  test('the second job on a bucket is a cache hit', async (t) => {
    const node = await startTestNode(t);
    await node.submit('warm', 'counter');
    const before = await node.cacheStats();
    const { result } = await node.submit<{ count: number }>('warm', 'counter');
    const after = await node.cacheStats();
    assert.equal(result.count, 2);
    const sum = (stats: typeof before, key: 'hits' | 'misses') => stats.reduce((n, s) => n + s[key], 0);
    assert.equal(sum(after, 'hits') - sum(before, 'hits'), 1);
    assert.equal(sum(after, 'misses') - sum(before, 'misses'), 0);
  });

  test('the cache stays within its byte budget and evicted items are read back from the store', async (t) => {
    // 64 KiB for the node: 32 KiB per thread, a handful of 2 KB lists (estimated 10 KB decoded) each.
    const node = await startTestNode(t, { cacheMb: 1 / 16 });
    const value = 'x'.repeat(2000);
    for (let b = 0; b < 40; b++) {
      await node.submit(`customer-${b}`, 'append', { value });
      const stats = await node.cacheStats();
      for (const s of stats) assert.ok(s.bytes <= s.maxBytes, `thread ${s.threadId} holds ${s.bytes} of ${s.maxBytes} bytes`);
    }
    const stats = await node.cacheStats();
    assert.ok(stats.reduce((n, s) => n + s.evictions, 0) > 0, 'expected evictions');
    for (let b = 0; b < 40; b++) {
      const { result } = await node.submit<{ length: number }>(`customer-${b}`, 'append', { value });
      assert.equal(result.length, 2);
    }
  });

  test('cacheMb 0 disables the cache: every job reads its items from the store, and sees every change', async (t) => {
    const node = await startTestNode(t, { cacheMb: 0 });
    for (let i = 1; i <= 3; i++) {
      const { result } = await node.submit<{ length: number }>('uncached', 'append', { value: i });
      assert.equal(result.length, i);
    }
    const stats = await node.cacheStats();
    assert.equal(stats.reduce((n, s) => n + s.hits, 0), 0);
    assert.equal(stats.reduce((n, s) => n + s.misses, 0), 3);
    assert.equal(stats.reduce((n, s) => n + s.items, 0), 0);
  });

  test('a job that throws leaves store and cache as they were', async (t) => {
    const node = await startTestNode(t);
    await node.submit('b', 'append', { value: 'first' });
    await node.submit('b', 'counter', { by: 5 });
    const listBefore = await node.readItem('b', 'list');
    const err = await rejection(node.submit('b', 'fail', { message: 'card declined' }));
    assert.equal(err.code, 'GREX_ERR_JOB_FAILED');
    assert.equal(err.message, 'card declined');
    // The next jobs see the state before the failed one, although it changed the cached list in place.
    assert.deepEqual((await node.submit('b', 'read', { item: 'list' })).result, ['first']);
    assert.deepEqual((await node.submit('b', 'counter', { by: 0 })).result, { count: 5 });
    assert.equal((await node.submit('b', 'read', { item: 'other' })).result, null);
    const listAfter = await node.readItem('b', 'list');
    assert.deepEqual(listAfter?.version, listBefore?.version);
    assert.equal(await node.readItem('b', 'other'), undefined);
  });

  test('a job whose item cannot be encoded stores none of its changes', async (t) => {
    const node = await startTestNode(t);
    const err = await rejection(node.submit('b', 'bad-item'));
    assert.equal(err.code, 'GREX_ERR_ITEM_VALUE_INVALID');
    assert.equal(await node.readItem('b', 'ok'), undefined);
    assert.equal((await node.submit('b', 'read', { item: 'ok' })).result, null);
  });

  test('a result that cannot be encoded fails the job and stores nothing', async (t) => {
    const node = await startTestNode(t);
    const err = await rejection(node.submit('b', 'bad-result', { kind: 'symbol' }));
    assert.equal(err.code, 'GREX_ERR_JOB_RESULT_INVALID');
    assert.equal(await node.readItem('b', 'touched'), undefined);
    assert.equal((await node.submit('b', 'read', { item: 'touched' })).result, null);
  });
});

describe('job timeout', () => {
  test('a job in an endless loop times out; its thread is replaced and later jobs succeed', async (t) => {
    const node = await startTestNode(t, { jobTimeoutMs: 1000 });
    await node.submit('stuck', 'counter');
    const others = await Promise.all(Array.from({ length: 8 }, (_, i) => node.submit<Where>(`other-${i}`, 'where')));
    const err = await rejection(node.submit('stuck', 'spin', { spin: true }));
    assert.equal(err.code, 'GREX_ERR_JOB_TIMEOUT');
    assert.equal(err.status, 504);
    // The same bucket and every other bucket work again, with their data.
    assert.deepEqual((await node.submit('stuck', 'counter')).result, { count: 2 });
    for (let i = 0; i < 8; i++) {
      const { result } = await node.submit<Where>(`other-${i}`, 'where');
      assert.equal(result.runs, 2);
    }
    const threadsBefore = new Set(others.map((o) => o.result.threadId));
    const threadsAfter = new Set((await node.cacheStats()).map((s) => s.threadId));
    assert.equal(threadsAfter.size, 2);
    assert.notDeepEqual([...threadsAfter].sort(), [...threadsBefore].sort(), 'the stuck thread was replaced');
  });

  test('a job sharing the thread of a timed-out job is run again and succeeds', async (t) => {
    const node = await startTestNode(t, { jobTimeoutMs: 3000 });
    const dir = await tempDir(t);
    // Find a bucket on the same thread as "stuck".
    const stuckThread = (await node.submit<Where>('stuck', 'where')).result.threadId;
    let neighbour = '';
    for (let i = 0; neighbour === ''; i++) {
      if ((await node.submit<Where>(`n-${i}`, 'where')).result.threadId === stuckThread) neighbour = `n-${i}`;
    }
    const spinning = rejection(node.submit('stuck', 'spin', { spin: true }));
    const release = join(dir, 'release');
    const mark = join(dir, 'started');
    const waiting = node.submit(neighbour, 'wait-file', { path: release, mark });
    const err = await spinning;
    assert.equal(err.code, 'GREX_ERR_JOB_TIMEOUT');
    await writeFile(release, '');
    await waiting; // resolves: it was run again on the new thread
    assert.ok(existsSync(mark));
    await waitFor(async () => (await node.cacheStats()).length === 2, { what: 'two threads' });
  });
});
