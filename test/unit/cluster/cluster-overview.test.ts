// The cluster overview (src/cluster/cluster-overview.ts): active nodes per flock,
// in-sync herders from the active node's own count or from live herders,
// under-replicated flocks, and members that did not answer.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodeStatsBleet } from '../../../src/cluster/bleet-messages.js';
import { buildOverview, type OverviewInput } from '../../../src/cluster/cluster-overview.js';
import type { MemberState } from '../../../src/cluster/membership.js';

const herdersOf: string[][] = [
  ['a', 'b'],
  ['b', 'c'],
  ['c', 'a'],
  ['a', 'c'],
];

function stats(led: [number, number][], jobsOk = 1): NodeStatsBleet {
  return { jobsOk, jobsFailed: 0, cacheHits: 2, cacheMisses: 1, queued: 0, led };
}

function input(states: Record<string, MemberState>, answers: Record<string, NodeStatsBleet>): OverviewInput {
  const live = (id: string) => states[id] !== 'dead';
  return {
    selfId: 'a',
    flocks: herdersOf.length,
    replicas: 2,
    mode: 'auto',
    mapVersion: 7,
    now: 1000,
    members: Object.entries(states).map(([nodeId, state]) => ({ nodeId, httpUrl: `http://${nodeId}`, herd: true, state, connected: state === 'alive' })),
    route: (flock) => ({ herders: herdersOf[flock]!, active: herdersOf[flock]!.find(live) ?? null }),
    isLive: live,
    stats: new Map(Object.entries(answers)),
  };
}

describe('buildOverview', () => {
  test('all alive: active nodes, herded and active counts, in-sync from the leaders', () => {
    const overview = buildOverview(input({ a: 'alive', b: 'alive', c: 'alive' }, { a: stats([[0, 2]]), b: stats([[1, 2]], 5), c: stats([]) }));
    assert.deepEqual(overview.active, [0, 1, 2, 0]);
    assert.deepEqual(overview.herders, [2, 2, 2, 2]);
    assert.deepEqual(overview.inSync, [2, 2, 2, 2]);
    assert.deepEqual(overview.led, [1, 1, 0, 0], 'flocks 2 and 3 are not led yet: their live herders count');
    assert.deepEqual(overview.underReplicated, [0, 0, 0, 0]);
    assert.deepEqual(overview.members.map((m) => [m.nodeId, m.flocksHerded, m.flocksActive]), [['a', 3, 2], ['b', 2, 1], ['c', 3, 1]]);
    assert.equal(overview.members[1]!.stats!.jobsOk, 5);
    assert.equal('led' in overview.members[1]!.stats!, false, 'per-flock data is not repeated per member');
  });

  test('a dead member: its flocks move, and every flock it herds is under-replicated', () => {
    const overview = buildOverview(input({ a: 'alive', b: 'alive', c: 'dead' }, { a: stats([[0, 2], [2, 1]]), b: stats([[1, 1]]) }));
    assert.deepEqual(overview.active, [0, 1, 0, 0]);
    assert.deepEqual(overview.inSync, [2, 1, 1, 1]);
    assert.deepEqual(overview.underReplicated, [0, 1, 1, 1]);
    assert.equal(overview.underReplicatedCount, 3);
    assert.equal(overview.members[2]!.stats, null, 'no answer, no counters');
  });

  test('a leader that reports a herder out of sync marks its flock, even with every member alive', () => {
    const overview = buildOverview(input({ a: 'alive', b: 'alive', c: 'alive' }, { a: stats([[0, 1]]) }));
    assert.deepEqual(overview.underReplicated, [1, 0, 0, 0]);
  });

  test('no live herder: no active node', () => {
    const overview = buildOverview(input({ a: 'dead', b: 'alive', c: 'dead' }, {}));
    assert.deepEqual(overview.active, [1, 1, -1, -1]);
    assert.deepEqual(overview.inSync, [1, 1, 0, 0]);
  });

  test('a manual farm compares with each flock\'s own herders', () => {
    const manual = { ...input({ a: 'alive', b: 'alive', c: 'alive' }, {}), mode: 'manual' as const, replicas: 3 };
    assert.deepEqual(buildOverview(manual).underReplicated, [0, 0, 0, 0]);
    assert.deepEqual(buildOverview({ ...manual, mode: 'auto' }).underReplicated, [1, 1, 1, 1]);
  });
});
