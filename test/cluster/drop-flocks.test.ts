// A node that no longer needs to herd many flocks drops them back to back,
// not one per tick: with ticks of 1 s, 40 flocks took 40 s before (a node
// leaving a full farm of 768 flocks took over 3 minutes at the default 250 ms).
// The wait below allows 15 s, far below 40 ticks and far above what the drops
// need, so the test tells the two apart on a loaded machine too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GrexNode } from '../../src/grex-node.js';
import { flockOf } from '../../src/keys.js';
import { startMemoryCluster } from '../helpers/memory-cluster.js';
import { waitFor } from '../helpers/wait-for.js';

const dropped = (node: GrexNode) => (node.clusterInfo().counters as { flocksDropped: number }).flocksDropped;

test('a node drops the flocks it no longer herds back to back, not one per tick', async (t) => {
  const cluster = await startMemoryCluster(t, 2, { replicas: 2, heartbeatMs: 1000, suspectAfterMs: 10_000, deadAfterMs: 20_000 });
  const [a, b] = cluster.nodes as [GrexNode, GrexNode];
  const buckets = Array.from({ length: 40 }, (_, i) => `drop-${i}`);
  for (const bucket of buckets) assert.equal((await a.submit<{ count: number }>(bucket, 'counter')).result.count, 1);
  const flocks = new Set(buckets.map((bucket) => flockOf(bucket, a.flocks)));
  const spare = Array.from({ length: a.flocks }, (_, f) => f).find((f) => !flocks.has(f))!;

  // a keeps one unused flock, b herds everything (it already does): a drops every claimed flock at once.
  await a.setFarmPlan({ [a.nodeId]: String(spare), [b.nodeId]: `0-${a.flocks - 1}` });
  await waitFor(() => dropped(a) >= flocks.size, { what: `a to drop ${flocks.size} flocks`, timeoutMs: 15_000, intervalMs: 50 });
  assert.equal(dropped(b), 0);
  for (const bucket of buckets) assert.equal((await b.submit<{ count: number }>(bucket, 'counter')).result.count, 2, bucket);
});
