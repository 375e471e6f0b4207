// A node that dropped a flock and is given it again must be copied again
// before it herds it. Its active node may still count it "in sync" from
// before the drop (no write came in between to tell otherwise); promoting it
// on that word made it a herder with an empty copy. The learner now refuses
// `herd` unless a sync of every page filled its copy at that term
// (GREX_ERR_COPY_INCOMPLETE), and the active node syncs it first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFarm } from '../../src/cluster/farm-map.js';
import { flockOf } from '../../src/keys.js';
import { bucketLedBy, settled, startMemoryCluster } from '../helpers/memory-cluster.js';
import { waitFor } from '../helpers/wait-for.js';

test('a node given back a flock it dropped is copied again before it herds it', async (t) => {
  const cluster = await startMemoryCluster(t, 3, { antiEntropyMs: 600_000 });
  const [a] = cluster.nodes;
  // The last herder of the flock is the one that drops it and gets it back; the first stays its active node.
  const ids = cluster.nodes.map((n) => n.nodeId);
  const bucket = bucketLedBy(a!, ids[0]!);
  const flock = flockOf(bucket, a!.flocks);
  const order = a!.cluster.route(flock).herders;
  const active = cluster.nodes.find((n) => n.nodeId === order[0])!;
  const relearner = cluster.nodes.find((n) => n.nodeId === order[2])!;
  for (let i = 0; i < 3; i++) await active.submit(bucket, 'counter');
  await waitFor(async () => (await relearner.readItem(bucket, 'count', { local: true })) !== undefined, { what: 'the count on every herder' });

  // The relearner herds every flock but this one: it drops it (nobody writes to the flock meanwhile).
  const all = '0-1023';
  const allBut = formatFarm(Array.from({ length: 1024 }, (_, f) => f).filter((f) => f !== flock));
  await active.setFarmPlan({ [order[0]!]: all, [order[1]!]: all, [order[2]!]: allBut });
  await waitFor(() => !relearner.cluster.herding().has(flock) && cluster.nodes.every((n) => !n.cluster.announcedHerders(flock).includes(relearner.nodeId)), {
    what: 'the relearner to drop the flock',
  });
  assert.equal(active.cluster.route(flock).active, active.nodeId, 'the active node stayed');

  // Given back: it must hold the flock's items once it herds it again.
  await active.setFarmPlan({ [order[0]!]: all, [order[1]!]: all, [order[2]!]: all });
  await waitFor(() => cluster.nodes.every((n) => n.cluster.announcedHerders(flock).includes(relearner.nodeId)), { what: 'the relearner to herd the flock again' });
  await settled(cluster.nodes);
  const record = await relearner.readItem(bucket, 'count', { local: true });
  assert.notEqual(record, undefined, 'the relearner herds the flock with its items');
  assert.equal(active.cluster.route(flock).active, active.nodeId, 'the same active node promoted it');
});
