// ClusterNode keeps its farm map across changes of the member table that do
// not change it (what members herd and learn: several a second while flocks
// move), and computes it again when members, their herd flags or their
// manual farms change. Routing follows every change either way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterNode } from '../../../src/cluster/cluster-node.js';
import { createLogger } from '../../../src/log.js';

function lone(): ClusterNode {
  return new ClusterNode({
    self: { nodeId: 'a', httpUrl: '', bleetUrl: '', herd: true, incarnation: 1 },
    flocks: 16,
    replicas: 3,
    writeQuorum: 'majority',
    transport: null,
    peers: [],
    heartbeatMs: 1000,
    suspectAfterMs: 5000,
    deadAfterMs: 10_000,
    bleetTimeoutMs: 1000,
    handler: () => Promise.reject(new Error('no bleets here')),
    logger: createLogger({ level: 'silent' }),
  });
}

test('announcing what a node herds keeps the farm map; declaring a manual farm computes it again', () => {
  const cluster = lone();
  const map = cluster.farm;
  assert.equal(cluster.isFresh(3), true);
  cluster.setHerding([3, 4], [5]);
  assert.equal(cluster.farm, map, 'the same map');
  assert.equal(cluster.isFresh(3), false, 'the roles follow the announcement');
  assert.deepEqual(cluster.route(5).learners, ['a']);
  cluster.declare({ farm: '0-7' });
  assert.notEqual(cluster.farm, map);
  assert.equal(cluster.farm.mode, 'manual');
  assert.deepEqual(cluster.route(12).target, []);
  assert.deepEqual(cluster.route(2).target, ['a']);
  const manual = cluster.farm;
  cluster.declare({ herd: false });
  assert.notEqual(cluster.farm, manual, 'a herd flag computes it again');
});
