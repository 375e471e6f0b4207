// Anti-entropy compares a flock's digest on its active node with each herder's
// while jobs keep writing to it. A write between the two listings (or still on
// its way to the herder) made identical herders look different: each such
// "difference" cost a verified sync, and when it hit every herder of a flock
// the next write had to wait for one (and, with stale in-sync entries, failed
// its quorum). A difference now counts only if this node's listing held still
// while the herder answered, twice.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GrexNode } from '../../src/grex-node.js';
import { bucketLedBy, inSync, startMemoryCluster } from '../helpers/memory-cluster.js';
import { waitFor } from '../helpers/wait-for.js';

type Counters = { antiEntropyChecks: number; antiEntropyDiffs: number };
const counters = (node: GrexNode) => node.clusterInfo().counters as Counters;

test('writes during anti-entropy do not make identical herders look different', async (t) => {
  const cluster = await startMemoryCluster(t, 3, { antiEntropyMs: 10 });
  const [a, b, c] = cluster.nodes as [GrexNode, GrexNode, GrexNode];
  const bucket = bucketLedBy(a, a.nodeId, b.nodeId, c.nodeId);
  await a.submit(bucket, 'counter');
  await inSync(a, bucket, [b.nodeId, c.nodeId]);
  const before = counters(a);
  // Writes one after the other while anti-entropy compares the flock again and again.
  let writes = 0;
  await waitFor(
    async () => {
      await a.submit(bucket, 'counter');
      writes++;
      return counters(a).antiEntropyChecks - before.antiEntropyChecks >= 40;
    },
    { what: '40 anti-entropy comparisons during writes', intervalMs: 1 },
  );
  assert.ok(writes > 0);
  assert.equal(counters(a).antiEntropyDiffs - before.antiEntropyDiffs, 0, 'no herder was found different');
});
