// Metrics and the cluster overview of a three-node cluster (in-process, over the
// memory transport) after a workload that touches every flock: jobs counted once,
// on the active node; forwards; one replication round trip per herder and commit;
// flocks led, active and herded adding up to the farm; bleet connections; and the
// overview marking exactly the flocks of a member that is cut off.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flockOf } from '../../src/keys.js';
import { inSync, isolate, startMemoryCluster } from '../helpers/memory-cluster.js';
import { parseMetrics, sample, total } from '../helpers/metrics.js';
import { waitFor } from '../helpers/wait-for.js';

const FLOCKS = 8;
const JOBS_PER_FLOCK = 3;

/** One bucket key per flock. */
function bucketsPerFlock(): string[] {
  const keys = new Map<number, string>();
  for (let i = 0; keys.size < FLOCKS; i++) {
    const key = `k-${i}`;
    if (!keys.has(flockOf(key, FLOCKS))) keys.set(flockOf(key, FLOCKS), key);
    if (i > 100_000) throw new Error('no key for some flock');
  }
  return [...keys.values()];
}

describe('metrics of a cluster', () => {
  test('after a workload on every flock, the counts of the three nodes add up', async (t) => {
    // Fixed node ids: the farm map follows them, and with random ones a led none of the 8 flocks
    // (or all) in about one run of 25, leaving nothing to forward (or nothing to run here).
    const cluster = await startMemoryCluster(t, 3, { flocks: FLOCKS, replicas: 2 }, (i) => ({ nodeId: `metrics-${i}` }));
    const [a, , c] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]];
    const buckets = bucketsPerFlock();
    for (const bucket of buckets) for (let i = 0; i < JOBS_PER_FLOCK; i++) await a.submit(bucket, 'counter', { by: 1 });
    const jobs = FLOCKS * JOBS_PER_FLOCK;
    const forwardedFlocks = buckets.filter((b) => a.cluster.route(flockOf(b, FLOCKS)).active !== a.nodeId).length;

    const scrape = async () => Promise.all(cluster.nodes.map(async (node) => parseMetrics((await node.metrics()).text)));
    const all = await scrape();
    assert.equal(total(all, 'grex_jobs_total', { job: 'counter', outcome: 'ok' }), jobs, 'each job counted once, where it ran');
    assert.equal(total(all, 'grex_job_duration_seconds_count', { job: 'counter' }), jobs);
    assert.equal(sample(all[0]!, 'grex_forwards_total', { what: 'job', outcome: 'ok' }) ?? 0, forwardedFlocks * JOBS_PER_FLOCK);
    assert.ok(forwardedFlocks > 0 && forwardedFlocks < FLOCKS, 'some flocks are active elsewhere');
    // Two herders per flock: each commit goes to the one other herder, and the quorum (2) waits for it.
    assert.equal(total(all, 'grex_replication_duration_seconds_count', { outcome: 'ok' }), jobs);
    assert.equal(total(all, 'grex_quorum_failures_total'), 0);
    assert.equal(total(all, 'grex_flocks_led'), FLOCKS, 'every flock was claimed by exactly one node');
    assert.equal(total(all, 'grex_flocks_active'), FLOCKS);
    assert.equal(total(all, 'grex_flocks_herded'), FLOCKS * 2);
    // Counters: first job of each bucket misses, the others hit (each bucket stays on one node and thread).
    assert.equal(total(all, 'grex_cache_hits_total'), FLOCKS * (JOBS_PER_FLOCK - 1));
    assert.equal(total(all, 'grex_cache_misses_total'), FLOCKS);
    for (const samples of all) {
      assert.equal(sample(samples, 'grex_members', { state: 'alive' }), 3);
      assert.equal(sample(samples, 'grex_bleet_connections', { direction: 'out', state: 'ready' }), 2);
      assert.equal(sample(samples, 'grex_bleet_connections', { direction: 'in', state: 'ready' }), 2);
    }
    // Every bucket's one item, on both of its herders, once applied.
    await waitFor(async () => total(await scrape(), 'grex_store_items') === FLOCKS * 2, { what: 'every item on both herders' });

    // The overview, from any node.
    for (const bucket of buckets) {
      const route = a.cluster.route(flockOf(bucket, FLOCKS));
      const leader = cluster.nodes.find((n) => n.nodeId === route.active)!;
      await inSync(leader, bucket, route.herders.filter((id) => id !== leader.nodeId));
    }
    const overview = await c.clusterOverview();
    assert.equal(overview.nodeId, c.nodeId);
    assert.deepEqual(overview.members.map((m) => m.state), ['alive', 'alive', 'alive']);
    assert.equal(overview.members.reduce((sum, m) => sum + m.stats!.jobsOk, 0), jobs);
    for (let flock = 0; flock < FLOCKS; flock++) {
      assert.equal(overview.members[overview.active[flock]!]!.nodeId, c.cluster.route(flock).active);
      assert.equal(overview.inSync[flock], 2);
      assert.equal(overview.led[flock], 1);
    }
    assert.equal(overview.underReplicatedCount, 0);

    // Cut the third node off: the others see it dead, and exactly its flocks are under-replicated.
    const cut = cluster.nodes[2]!;
    isolate(cluster, 2);
    const after = await waitFor(
      async () => {
        const view = await a.clusterOverview();
        return view.members.find((m) => m.nodeId === cut.nodeId)!.state === 'dead' ? view : undefined;
      },
      { what: `${cut.nodeId} to be dead in ${a.nodeId}'s view` },
    );
    assert.equal(after.members.find((m) => m.nodeId === cut.nodeId)!.stats, null);
    for (let flock = 0; flock < FLOCKS; flock++) {
      const herdedByCut = a.cluster.route(flock).herders.includes(cut.nodeId);
      assert.equal(after.underReplicated[flock], herdedByCut ? 1 : 0, `flock ${flock}`);
      assert.notEqual(after.members[after.active[flock]!]!.nodeId, cut.nodeId);
    }
    assert.equal(sample(parseMetrics((await a.metrics()).text), 'grex_members', { state: 'dead' }), 1);
  });
});
