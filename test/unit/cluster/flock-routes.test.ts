// How a node derives its flock routes (flock-routes.ts, pure): the farm
// map's input from member entries, a flock's route from the map and the
// roles, the flocks a node must copy, and the fresh/settled/moving counts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FarmMap } from '../../../src/cluster/farm-map.js';
import { farmKey, farmMembers, flockRoute, flockStates, flocksToLearn } from '../../../src/cluster/flock-routes.js';
import { flockRoles } from '../../../src/cluster/herding.js';
import type { MemberInfo } from '../../../src/cluster/membership.js';

const member = (nodeId: string, extra: Partial<MemberInfo> = {}): MemberInfo => ({ nodeId, httpUrl: '', bleetUrl: '', herd: true, incarnation: 1, ...extra });
const sets = (entries: Record<string, number[]>) => new Map(Object.entries(entries).map(([id, flocks]) => [id, new Set(flocks)]));
const map = (herders: string[][]): FarmMap => ({ mode: 'auto', flocks: herders.length, herders });

describe('farm map input', () => {
  test('manual farms are parsed; an empty one herds nothing; an invalid one is reported and herds nothing', () => {
    const invalid: string[] = [];
    const members = farmMembers([member('a', { farm: '0-2' }), member('b', { farm: '' }), member('c', { farm: 'x' }), member('d', { herd: false })], 4, (m) => invalid.push(m.nodeId));
    assert.deepEqual(members, [
      { nodeId: 'a', herd: true, farm: [0, 1, 2] },
      { nodeId: 'b', herd: true, farm: [] },
      { nodeId: 'c', herd: true, farm: [] },
      { nodeId: 'd', herd: false, farm: undefined },
    ]);
    assert.deepEqual(invalid, ['c']);
  });

  test('the key changes with members and what they declare, not with what they herd', () => {
    const key = farmKey([member('a'), member('b')]);
    assert.equal(farmKey([member('a', { herding: 'AQ==' }), member('b', { learning: 'Ag==' })]), key);
    assert.notEqual(farmKey([member('a'), member('b', { herd: false })]), key);
    assert.notEqual(farmKey([member('a', { farm: '0' }), member('b')]), key);
    assert.notEqual(farmKey([member('a')]), key);
  });
});

describe('flockRoute', () => {
  test('the active node is the first herder that may be active; learners are never active', () => {
    const farm = map([['a', 'b', 'c']]);
    const roles = flockRoles(0, ['a', 'b', 'c'], sets({ a: [0], b: [0], c: [] }), sets({ a: [0] }));
    const route = flockRoute(0, farm, roles, (id) => id !== 'b');
    assert.deepEqual(route, { flock: 0, herders: ['b', 'c'], learners: ['a'], target: ['a', 'b', 'c'], active: 'c' });
    assert.equal(flockRoute(0, farm, roles, () => false).active, null);
  });

  test('a flock without roles or target routes nowhere', () => {
    assert.deepEqual(flockRoute(7, map([[]]), undefined, () => true), { flock: 7, herders: [], learners: [], target: [], active: null });
  });
});

describe('flocksToLearn', () => {
  const farm = map([['a', 'b'], ['b', 'c'], ['a', 'c'], ['a']]);
  const herdingBy = sets({ a: [0], b: [0, 1], c: [1, 2] });
  const roles = farm.herders.map((target, flock) => flockRoles(flock, target, herdingBy));

  test('joined: target flocks not herded yet that somebody herds (fresh ones are claimed, not copied)', () => {
    assert.deepEqual(flocksToLearn('a', true, farm, roles, new Set([0])), [2]);
  });

  test('not joined: every flock not herded here', () => {
    assert.deepEqual(flocksToLearn('a', false, farm, roles, new Set([0])), [1, 2, 3]);
  });
});

test('flockStates counts fresh, settled and moving flocks', () => {
  const farm = map([['a', 'b'], ['a', 'b'], ['a', 'b'], ['b']]);
  // 0: herded by its target; 1: a copy on its way; 2: a copy to drop; 3: never claimed.
  assert.deepEqual(flockStates(farm, sets({ a: [0, 1, 2], b: [0, 2], c: [2] })), { fresh: 1, settled: 1, moving: 2 });
});
