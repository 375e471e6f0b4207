// Rebalancing's pure parts: flock sets in member entries (herding.ts), the
// roles of a flock (herders, learners, fresh), when a node may drop a flock,
// farm plans (farm-plan.ts), and claims that count answers, not views
// (ClaimRound with nodes that say they do not herd: learners cannot make a
// claim count an empty copy, and every majority of the old and the new
// herders overlaps when one node joins or leaves).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClaimRound, claimNeeds } from '../../../src/cluster/claim-round.js';
import { checkFarmPlan } from '../../../src/cluster/farm-plan.js';
import type { ListingEntry } from '../../../src/cluster/flock-listing.js';
import { decodeFlockSet, encodeFlockSet, flockRoles, mayDrop } from '../../../src/cluster/herding.js';
import type { MemberInfo } from '../../../src/cluster/membership.js';
import { GrexError } from '../../../src/errors.js';
import { prng, subsets } from '../../helpers/prng.js';

const sets = (entries: Record<string, number[]>) => new Map(Object.entries(entries).map(([id, flocks]) => [id, new Set(flocks)]));
const entry = (itemKey: string, term: number, seq: number): ListingEntry => ({ bucketKey: 'b', itemKey, term, seq, tombstone: false });

describe('flock sets', () => {
  test('round-trip any set of 1024 flocks in 172 characters', () => {
    const random = prng(7);
    for (let i = 0; i < 50; i++) {
      const flocks = new Set(Array.from({ length: Math.floor(random() * 1024) }, () => Math.floor(random() * 1024)));
      const text = encodeFlockSet(flocks, 1024);
      assert.equal(text.length, 172);
      assert.deepEqual([...decodeFlockSet(text, 1024)].sort((a, b) => a - b), [...flocks].sort((a, b) => a - b));
    }
  });

  test('nothing, out-of-range flocks and garbage decode to no flocks', () => {
    assert.equal(decodeFlockSet(undefined, 1024).size, 0);
    assert.equal(decodeFlockSet('', 1024).size, 0);
    assert.deepEqual([...decodeFlockSet(encodeFlockSet([3, 2000, -1, 1.5], 1024), 1024)], [3]);
    assert.deepEqual([...decodeFlockSet(encodeFlockSet([0, 15], 16), 8)], [0], 'bits past the flock count are ignored');
    assert.equal(decodeFlockSet('!!!', 1024).size, 0);
  });
});

describe('flockRoles', () => {
  test('a flock nobody herds is fresh: its herders are its target', () => {
    assert.deepEqual(flockRoles(5, ['a', 'b', 'c'], sets({ a: [1], b: [], c: [] })), { herders: ['a', 'b', 'c'], learners: [], fresh: true });
  });

  test('target herders that say they are learning are learners; holders outside the target come last, sorted', () => {
    const roles = flockRoles(5, ['d', 'a', 'b'], sets({ a: [5], b: [5], c: [5], z: [5], d: [] }), sets({ d: [5] }));
    assert.deepEqual(roles, { herders: ['a', 'b', 'c', 'z'], learners: ['d'], fresh: false });
  });

  test('a target herder that neither herds nor learns still routes (it is joining, or the flock is fresh for it)', () => {
    assert.deepEqual(flockRoles(5, ['d', 'a'], sets({ a: [5] })).herders, ['d', 'a']);
  });
});

describe('mayDrop', () => {
  test('only a non-target holder, only once every target herder herds the flock', () => {
    const target = ['a', 'b'];
    assert.equal(mayDrop(5, 'c', target, sets({ a: [5], b: [], c: [5] })), false, 'b still copying');
    assert.equal(mayDrop(5, 'c', target, sets({ a: [5], b: [5], c: [5] })), true);
    assert.equal(mayDrop(5, 'a', target, sets({ a: [5], b: [5], c: [5] })), false, 'a target herder keeps it');
    assert.equal(mayDrop(5, 'c', target, sets({ a: [5], b: [5], c: [] })), false, 'c does not hold it');
    assert.equal(mayDrop(5, 'c', [], sets({ c: [5] })), false, 'no target herder: keep the only copy');
  });

  test('holders outside the target leave one at a time, in node id order', () => {
    const herding = sets({ a: [5], b: [5], c: [5], d: [5] });
    assert.equal(mayDrop(5, 'c', ['a', 'b'], herding), true);
    assert.equal(mayDrop(5, 'd', ['a', 'b'], herding), false);
    assert.equal(mayDrop(5, 'd', ['a', 'b'], sets({ a: [5], b: [5], d: [5] })), true, 'then the next');
  });
});

describe('checkFarmPlan', () => {
  const member = (nodeId: string, extra: Partial<MemberInfo> = {}): MemberInfo => ({ nodeId, httpUrl: '', bleetUrl: '', herd: true, incarnation: 1, ...extra });
  const members = [member('a'), member('b'), member('c'), member('router', { herd: false }), member('gone', { removed: true, herd: false })];
  const refused = (plan: unknown, pattern: RegExp) =>
    assert.throws(
      () => checkFarmPlan(plan, members, 16),
      (err: unknown) => err instanceof GrexError && err.code === 'GREX_ERR_PLAN_INVALID' && pattern.test(err.message),
    );

  test('a plan covering every flock is taken, in canonical form; herding members left out herd nothing', () => {
    const { farms } = checkFarmPlan({ a: '0-7', b: '8,9,10-15', c: '3' }, members, 16);
    assert.deepEqual(Object.fromEntries(farms), { a: '0-7', b: '8-15', c: '3' });
    assert.deepEqual(Object.fromEntries(checkFarmPlan({ a: '0-15' }, members, 16).farms), { a: '0-15', b: '', c: '' });
  });

  test('malformed plans, unknown, removed or non-herding nodes and flocks left without a herder are refused, naming the problem', () => {
    refused('0-15', /object of node id -> farm/);
    refused([], /object of node id -> farm/);
    refused({}, /at least one node/);
    refused({ a: '0-15', x: '1' }, /node x is not a member/);
    refused({ a: '0-15', gone: '1' }, /node gone is not a member/);
    refused({ a: '0-15', router: '1' }, /router herds nothing/);
    refused({ a: 15 }, /farm of a must be a string/);
    refused({ a: '0-20' }, /farm of a: flock 20 is out of range/);
    refused({ a: '5-1' }, /runs backwards/);
    refused({ a: '0-7', b: '9-15' }, /leaves 1 flock\(s\) without a herder: 8/);
  });
});

describe('claims count answers, not views', () => {
  test('nodes that say they do not herd are left out of the count', () => {
    const r = new ClaimRound({ flock: 1, term: 4, herders: ['a', 'b', 'c', 'd'], selfId: 'a' });
    assert.equal(r.needed, 3);
    r.promise('a', [entry('x', 1, 1)]);
    r.promise('d', [], false); // a learner: its promise counts for nothing
    assert.equal(r.counted, 3);
    assert.equal(r.needed, 2);
    assert.equal(r.state, 'open');
    r.promise('b', [entry('x', 1, 2)]);
    assert.equal(r.state, 'won');
    assert.deepEqual(r.promisers.sort(), ['a', 'b']);
    assert.deepEqual(r.outsiders, ['d']);
  });

  test('a learner with an empty copy never stands in for a herder: the merge holds every acknowledged write', () => {
    // a, b, c herd the flock; d is still copying it. A write (x at seq 9) was acknowledged by b and c.
    const r = new ClaimRound({ flock: 1, term: 4, herders: ['a', 'b', 'c', 'd'], selfId: 'a' });
    r.promise('a', [entry('x', 1, 3)]);
    r.promise('d', [], false);
    assert.notEqual(r.state, 'won', 'a and a learner are not a majority of the herders');
    r.promise('c', [entry('x', 1, 9)]);
    assert.equal(r.state, 'won');
    assert.deepEqual(r.plan().merged.map((e) => e.seq), [9]);
  });

  test('lost only when no way the unanswered nodes could answer wins', () => {
    const r = new ClaimRound({ flock: 1, term: 4, herders: ['a', 'b', 'c', 'd', 'e'], selfId: 'a' });
    r.promise('a', []);
    r.refuse('b');
    r.outsider('c');
    r.outsider('d');
    assert.equal(r.state, 'open', 'three herders as far as the answers tell: e may still make two');
    r.promise('e', []);
    assert.equal(r.state, 'won');

    const s = new ClaimRound({ flock: 1, term: 4, herders: ['a', 'b', 'c', 'd', 'e'], selfId: 'a' });
    s.promise('a', []);
    s.refuse('b');
    s.refuse('c');
    assert.equal(s.state, 'open', 'd and e may still promise');
    s.outsider('d');
    assert.equal(s.state, 'lost', 'four herders need three promises: a and e at most');
  });

  test('one node joining or leaving: every claim majority of the new herders meets every write quorum of the old ones', () => {
    for (let n = 1; n <= 7; n++) {
      const old = Array.from({ length: n }, (_, i) => `n${i}`);
      for (const next of [[...old, 'new'], old.slice(1)]) {
        if (next.length === 0) continue;
        const writeQuorum = Math.floor(n / 2) + 1;
        const claimQuorum = claimNeeds(next.length, 'majority');
        for (const acked of subsets(old, writeQuorum).filter((s) => s.length === writeQuorum)) {
          for (const promisers of subsets(next, claimQuorum).filter((s) => s.length === claimQuorum)) {
            assert.ok(promisers.some((id) => acked.includes(id)), `${n} -> ${next.length}: ${acked} acked, ${promisers} promised`);
          }
        }
      }
    }
  });
});
