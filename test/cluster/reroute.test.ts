// While a flock moves, a request can be refused by the node it was sent to
// before anything of it was stored: that node is no longer the active node
// (GREX_ERR_NOT_ACTIVE, its view is ahead of the forwarding node's), or it
// stepped down while the job ran and its commit was refused before the first
// write (GREX_ERR_STALE_TERM with stored: false). The forwarding node then
// runs it once more on the node its view names next (waiting for its view to
// catch up when needed), so the client gets the answer, not a retryable error.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatFarm } from '../../src/cluster/farm-map.js';
import type { GrexNode } from '../../src/grex-node.js';
import { flockOf } from '../../src/keys.js';
import { bucketLedBy, startMemoryCluster } from '../helpers/memory-cluster.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

test('a job refused as not active by a leaving node runs on the node the view names next', async (t) => {
  // Slow heartbeats: a's view of b lags behind b's own for up to a second.
  const cluster = await startMemoryCluster(t, 2, { replicas: 2, heartbeatMs: 1000, suspectAfterMs: 10_000, deadAfterMs: 20_000 });
  const [a, b] = cluster.nodes as [GrexNode, GrexNode];
  const bucket = bucketLedBy(a, b.nodeId, a.nodeId);
  assert.equal((await a.submit(bucket, 'counter')).activeNode, b.url);

  // b leaves: in its own view at once a is the active node; a still sends the job to b.
  void b.leave();
  assert.equal(a.cluster.route(flockOf(bucket, a.flocks)).active, b.nodeId, 'a\'s view still names b');
  const answer = await a.submit<{ count: number }>(bucket, 'counter');
  assert.deepEqual(answer.result, { count: 2 });
  assert.equal(answer.activeNode, a.url);
  assert.equal(a.cluster.counters.rerouted, 1);
});

test('a job whose active node stepped down before its commit runs once more on the next active node', async (t) => {
  const cluster = await startMemoryCluster(t, 3, { jobTimeoutMs: 60_000 });
  const [a, b, c] = cluster.nodes as [GrexNode, GrexNode, GrexNode];
  const bucket = bucketLedBy(a, a.nodeId, b.nodeId, c.nodeId);
  const flock = flockOf(bucket, a.flocks);
  assert.deepEqual((await c.submit(bucket, 'counter')).result, { count: 1 });

  // c forwards a slow job to a; it reads the count, then waits.
  const dir = await tempDir(t);
  const slow = c.submit<{ count: number }>(bucket, 'slow-counter', { path: join(dir, 'go'), mark: join(dir, 'read') });
  await waitFor(() => existsSync(join(dir, 'read')), { what: 'the slow job to read the count on a' });
  // A farm plan takes the flock from a: b becomes its active node and a steps down while the job waits.
  const all = '0-1023';
  const allBut = formatFarm(Array.from({ length: 1024 }, (_, f) => f).filter((f) => f !== flock));
  await c.setFarmPlan({ [a.nodeId]: allBut, [b.nodeId]: all, [c.nodeId]: all });
  await waitFor(() => !a.leadership().some((l) => l.flock === flock) && c.cluster.route(flock).active === b.nodeId, { what: 'a to step down, and c to see b active' });
  await writeFile(join(dir, 'go'), '');
  // a's commit was refused before its first write; c ran the job again on b, on b's copy.
  const answer = await slow;
  assert.deepEqual(answer.result, { count: 2 });
  assert.equal(answer.activeNode, b.url);
  assert.equal(c.cluster.counters.rerouted, 1);
  assert.deepEqual((await c.submit(bucket, 'counter', { by: 0 })).result, { count: 2 }, 'the job counted once');
});

test('a node whose view lags the forwarding node\'s catches up and runs the job instead of refusing it', async (t) => {
  // Slow heartbeats: views catch up by gossip only after up to a second.
  const cluster = await startMemoryCluster(t, 3, { heartbeatMs: 1000, suspectAfterMs: 10_000, deadAfterMs: 20_000 });
  const [a, b, c] = cluster.nodes as [GrexNode, GrexNode, GrexNode];
  const bucket = bucketLedBy(a, b.nodeId, a.nodeId, c.nodeId);
  const flock = flockOf(bucket, a.flocks);
  assert.equal((await a.submit(bucket, 'counter')).activeNode, b.url);

  // b leaves: its view names a at once, a's and c's still name b. b sends the job to a.
  void b.leave();
  assert.equal(b.cluster.route(flock).active, a.nodeId);
  assert.equal(a.cluster.route(flock).active, b.nodeId, 'a\'s view still names b');
  const answer = await b.submit<{ count: number }>(bucket, 'counter');
  assert.deepEqual(answer.result, { count: 2 });
  assert.equal(answer.activeNode, a.url);
  assert.equal(b.cluster.counters.rerouted, 0, 'a took the job without refusing it first');
});
