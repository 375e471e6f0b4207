// The scheduler: per-bucket serialisation, parallel buckets, bounded queues, graceful stop.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { rejection, startTestNode } from '../helpers/nodes.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

describe('per-bucket order', () => {
  test('200 concurrent counter jobs on one bucket end at exactly 200', async (t) => {
    const node = await startTestNode(t);
    const results = await Promise.all(Array.from({ length: 200 }, () => node.submit<{ count: number }>('busy', 'counter')));
    const counts = results.map((r) => r.result.count).sort((a, b) => a - b);
    assert.deepEqual(counts, Array.from({ length: 200 }, (_, i) => i + 1));
    assert.deepEqual((await node.submit('busy', 'counter', { by: 0 })).result, { count: 200 });
  });

  test('jobs of one bucket never overlap, even when they await', async (t) => {
    const node = await startTestNode(t);
    const results = await Promise.all(Array.from({ length: 30 }, () => node.submit<number>('one', 'overlap')));
    assert.ok(results.every((r) => r.result === 1), `saw ${results.map((r) => r.result)}`);
  });

  test('the JavaScript and TypeScript counters share the same item', async (t) => {
    const node = await startTestNode(t);
    await Promise.all(Array.from({ length: 20 }, (_, i) => node.submit('mixed', i % 2 === 0 ? 'counter' : 'counter-js')));
    assert.deepEqual((await node.submit('mixed', 'counter-js', { by: 0 })).result, { count: 20 });
  });
});

describe('parallel buckets', () => {
  test('jobs on many buckets run at the same time', async (t) => {
    const node = await startTestNode(t);
    const dir = await tempDir(t);
    const n = 8;
    // Each job waits until all n have started: they can only all succeed if they overlap.
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => node.submit<boolean>(`bucket-${i}`, 'rendezvous', { dir, id: String(i), n, giveUpMs: 60_000 })),
    );
    assert.deepEqual(results.map((r) => r.result), Array(n).fill(true));
  });
});

describe('bounded queues', () => {
  test('beyond the per-bucket backlog a job gets GREX_ERR_OVERLOADED, other buckets still run', async (t) => {
    const node = await startTestNode(t, { maxQueuedPerBucket: 2 });
    const dir = await tempDir(t);
    const release = join(dir, 'release');
    const started = join(dir, 'started');
    const running = node.submit('hot', 'wait-file', { path: release, mark: started });
    await waitFor(() => existsSync(started), { what: 'the first job to start' });
    const waiting = [node.submit('hot', 'counter'), node.submit('hot', 'counter')];
    const err = await rejection(node.submit('hot', 'counter'));
    assert.equal(err.code, 'GREX_ERR_OVERLOADED');
    assert.equal(err.status, 503);
    assert.equal(err.data?.retryAfterSeconds, 1);
    assert.deepEqual((await node.submit('cold', 'counter')).result, { count: 1 });
    await writeFile(release, '');
    await running;
    assert.deepEqual((await Promise.all(waiting)).map((r) => r.result), [{ count: 1 }, { count: 2 }]);
    // The refused job left no trace.
    assert.deepEqual((await node.submit('hot', 'counter', { by: 0 })).result, { count: 2 });
  });

  test('beyond the node-wide limit every bucket gets GREX_ERR_OVERLOADED until jobs finish', async (t) => {
    const node = await startTestNode(t, { maxQueuedJobs: 3 });
    const dir = await tempDir(t);
    const release = join(dir, 'release');
    const held = [0, 1, 2].map((i) => node.submit(`b${i}`, 'wait-file', { path: release }));
    const err = await rejection(node.submit('b3', 'counter'));
    assert.equal(err.code, 'GREX_ERR_OVERLOADED');
    assert.equal(err.data?.scope, 'node');
    await writeFile(release, '');
    await Promise.all(held);
    assert.deepEqual((await node.submit('b3', 'counter')).result, { count: 1 });
  });
});

describe('stop', () => {
  test('stop finishes the jobs it accepted and refuses new ones', async (t) => {
    const node = await startTestNode(t);
    const dir = await tempDir(t);
    const release = join(dir, 'release');
    const started = join(dir, 'started');
    const running = node.submit('s', 'wait-file', { path: release, mark: started });
    const queued = node.submit('s', 'counter');
    await waitFor(() => existsSync(started), { what: 'the job to start' });
    const stopping = node.stop();
    const refused = await rejection(node.submit('t', 'counter'));
    assert.equal(refused.code, 'GREX_ERR_SHUTTING_DOWN');
    assert.equal(node.isReady(), false);
    await writeFile(release, '');
    await running;
    assert.deepEqual((await queued).result, { count: 1 });
    await stopping;
    await node.stop(); // a second stop is harmless
  });
});
