// Warm handover: when a flock's leadership moves by plan (not by a crash),
// the old active node names the flock's hot buckets and the new one claims
// the flock and loads them before jobs arrive, so the first job there is a
// cache hit. SIGTERM hands the led flocks over the same way.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatFarm } from '../../src/cluster/farm-map.js';
import type { GrexNode } from '../../src/grex-node.js';
import { flockOf } from '../../src/keys.js';
import { bucketLedBy, startMemoryCluster } from '../helpers/memory-cluster.js';
import { waitFor } from '../helpers/wait-for.js';

async function cacheTotals(node: GrexNode): Promise<{ hits: number; misses: number }> {
  const stats = await node.cacheStats();
  return { hits: stats.reduce((sum, s) => sum + s.hits, 0), misses: stats.reduce((sum, s) => sum + s.misses, 0) };
}

const counter = (node: GrexNode) => (node.clusterInfo().counters as { warmedBuckets: number; flocksDropped: number });

describe('warm handover', () => {
  test('a flock moved by a farm plan: the new active node has its hot buckets cached before the first job', async (t) => {
    const cluster = await startMemoryCluster(t, 2, { replicas: 2 });
    const [a, b] = cluster.nodes as [GrexNode, GrexNode];
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId);
    for (let i = 1; i <= 3; i++) assert.equal((await a.submit<{ count: number }>(bucket, 'counter')).result.count, i);

    // The plan takes the bucket's flock away from a: b is its only herder from now on.
    const flock = flockOf(bucket, a.flocks);
    const everyFlockBut = formatFarm(Array.from({ length: a.flocks }, (_, f) => f).filter((f) => f !== flock));
    await a.setFarmPlan({ [a.nodeId]: everyFlockBut, [b.nodeId]: `0-${a.flocks - 1}` });
    await waitFor(() => b.leadership().some((l) => l.flock === flock) && counter(b).warmedBuckets >= 1, { what: 'b to lead the flock, warmed' });
    await waitFor(() => counter(a).flocksDropped >= 1, { what: 'a to drop the flock' });

    const before = await cacheTotals(b);
    const answer = await b.submit<{ count: number }>(bucket, 'counter');
    assert.equal(answer.result.count, 4, 'nothing lost in the move');
    assert.equal(answer.activeNode, b.url);
    const after = await cacheTotals(b);
    assert.equal(after.misses, before.misses, 'the first job after the move read its item from the cache');
    assert.equal(after.hits, before.hits + 1);
  });

  test('a stopping node hands its flocks to their next herders, which take over before it is declared dead', async (t) => {
    // Failure detection far slower than the test: only the handover can move the flock in time.
    const cluster = await startMemoryCluster(t, 3, { suspectAfterMs: 60_000, deadAfterMs: 120_000 });
    const [a, b] = cluster.nodes as [GrexNode, GrexNode, GrexNode];
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId);
    for (let i = 1; i <= 3; i++) await a.submit(bucket, 'counter');
    await a.stop();
    assert.equal(b.cluster.stateOf(a.nodeId), 'alive', 'a is not dead to b: it only said it is stopping');
    const answer = await b.submit<{ count: number }>(bucket, 'counter');
    assert.equal(answer.result.count, 4);
    assert.equal(answer.activeNode, b.url);
    assert.ok(counter(b).warmedBuckets >= 1, 'b loaded the hot bucket when it took over');
  });
});
