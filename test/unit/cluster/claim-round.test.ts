// ClaimRound (src/cluster/claim-round.ts): a claim is won with promises of a
// majority of the flock's herders (the candidate's own included), lost as
// soon as a majority is impossible, open in between, for 1..7 herders and in
// seeded random orders; answers of non-herders are ignored and no herder both
// promises and refuses; highestRefusedTerm; plan() drops versions only the
// candidate holds only when every herder promised and a write needs >= 2.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClaimRound } from '../../../src/cluster/claim-round.js';
import type { ListingEntry } from '../../../src/cluster/flock-listing.js';
import type { WriteQuorum } from '../../../src/cluster/quorum.js';
import { prng } from '../../helpers/prng.js';

const herdersOf = (n: number) => Array.from({ length: n }, (_, i) => `n${i}`);
const round = (n: number, writeQuorum?: WriteQuorum) =>
  new ClaimRound({ flock: 3, term: 5, herders: herdersOf(n), selfId: 'n0', ...(writeQuorum === undefined ? {} : { writeQuorum }) });
const entry = (itemKey: string, term: number, seq: number): ListingEntry => ({ bucketKey: 'b', itemKey, term, seq, tombstone: false });

describe('ClaimRound', () => {
  test('is won once a majority promised (self included), for 1 to 7 herders', () => {
    for (let n = 1; n <= 7; n++) {
      const r = round(n);
      const majority = Math.floor(n / 2) + 1;
      assert.equal(r.needed, majority);
      assert.equal(r.state, 'open', `${n} herders, no answer yet`);
      for (let i = 0; i < n; i++) {
        r.promise(`n${i}`, []);
        assert.equal(r.state, i + 1 >= majority ? 'won' : 'open', `${n} herders, ${i + 1} promises`);
      }
      assert.deepEqual(r.promisers.sort(), herdersOf(n).sort());
    }
  });

  test('is lost as soon as a majority is impossible, for 1 to 7 herders', () => {
    for (let n = 1; n <= 7; n++) {
      const r = round(n);
      const majority = Math.floor(n / 2) + 1;
      for (let i = 0; i < n; i++) {
        r.refuse(`n${n - 1 - i}`, 0);
        assert.equal(r.state, n - (i + 1) < majority ? 'lost' : 'open', `${n} herders, ${i + 1} refusals`);
      }
    }
  });

  test('in seeded random orders of promises and refusals the state follows the counts', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = prng(seed);
      const n = 1 + Math.floor(rand() * 7);
      const majority = Math.floor(n / 2) + 1;
      const r = round(n);
      const order = herdersOf(n);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      let promises = 0;
      let refusals = 0;
      for (const node of order) {
        if (rand() < 0.5) {
          r.promise(node, []);
          promises++;
        } else {
          r.refuse(node, Math.floor(rand() * 10));
          refusals++;
        }
        const expected = promises >= majority ? 'won' : n - refusals < majority ? 'lost' : 'open';
        assert.equal(r.state, expected, `seed ${seed}: ${n} herders, ${promises} promises, ${refusals} refusals`);
      }
      assert.notEqual(r.state, 'open', `seed ${seed}: every herder answered`);
    }
  });

  test('promises and refusals from nodes that do not herd the flock are ignored', () => {
    const r = round(3);
    r.promise('stranger', [entry('x', 9, 9)]);
    r.promise('other', []);
    assert.equal(r.state, 'open');
    assert.deepEqual(r.promisers, []);
    r.refuse('stranger', 99);
    r.refuse('other', 99);
    r.refuse('third', 99);
    assert.equal(r.state, 'open');
    assert.equal(r.highestRefusedTerm, 0);
    r.promise('n0', []);
    r.promise('n1', []);
    assert.equal(r.state, 'won');
    assert.deepEqual(r.plan().merged, []);
  });

  test('a herder that refused cannot promise afterwards, and one that promised cannot refuse', () => {
    const r = round(3);
    r.refuse('n1', 7);
    r.promise('n1', [entry('x', 1, 1)]);
    assert.deepEqual(r.promisers, []);
    r.promise('n0', []);
    r.promise('n2', [entry('y', 1, 2)]);
    r.refuse('n2', 8);
    assert.equal(r.state, 'won');
    assert.equal(r.highestRefusedTerm, 7);
    assert.deepEqual(r.promisers.sort(), ['n0', 'n2']);
    assert.deepEqual(r.plan().merged.map((e) => e.itemKey), ['y']);
  });

  test('a repeated promise counts once', () => {
    const r = round(5);
    r.promise('n1', []);
    r.promise('n1', []);
    r.promise('n1', []);
    assert.equal(r.state, 'open');
    assert.equal(r.promisers.length, 1);
  });

  test('a repeated refusal counts once', () => {
    const r = round(3);
    r.refuse('n1', 1);
    r.refuse('n1', 1);
    assert.equal(r.state, 'open');
    r.refuse('n2', 1);
    assert.equal(r.state, 'lost');
  });

  test('highestRefusedTerm is the highest term any refusing herder had promised (0 when none said)', () => {
    const r = round(5);
    assert.equal(r.highestRefusedTerm, 0);
    r.refuse('n1');
    assert.equal(r.highestRefusedTerm, 0);
    r.refuse('n2', 12);
    r.refuse('n3', 4);
    assert.equal(r.highestRefusedTerm, 12);
    assert.equal(r.state, 'lost');
  });

  describe('plan()', () => {
    // n0 (the candidate) alone holds lonely@2.9 and x@2.8; n1 holds x@1.3.
    const listings: Record<string, ListingEntry[]> = {
      n0: [entry('lonely', 2, 9), entry('x', 2, 8)],
      n1: [entry('x', 1, 3)],
      n2: [],
      n3: [],
      n4: [],
    };
    const planned = (n: number, promisers: string[], writeQuorum?: WriteQuorum) => {
      const r = round(n, writeQuorum);
      for (const node of promisers) r.promise(node, listings[node]!);
      return r.plan();
    };
    const merged = (plan: ReturnType<ClaimRound['plan']>) => plan.merged.map((e) => `${e.itemKey}@${e.term}.${e.seq}`);

    test('drops versions only the candidate holds when every herder promised and a write needs two or more', () => {
      for (const [n, writeQuorum] of [
        [3, undefined],
        [3, 'majority'],
        [3, 'all'],
        [3, 2],
        [2, 'majority'],
        [5, 3],
      ] as const) {
        const plan = planned(n, herdersOf(n), writeQuorum);
        assert.deepEqual(merged(plan), ['x@1.3'], `${n} herders, writeQuorum ${writeQuorum}`);
        assert.deepEqual(plan.purge.map((e) => e.itemKey), ['lonely']);
        assert.deepEqual(plan.fetch.get('n1')?.map((e) => e.itemKey), ['x']);
      }
    });

    test('keeps them when a write needs only one herder', () => {
      for (const [n, writeQuorum] of [
        [3, 1],
        [1, 'majority'],
        [1, 'all'],
      ] as const) {
        const plan = planned(n, herdersOf(n), writeQuorum);
        assert.ok(merged(plan).includes('lonely@2.9'), `${n} herders, writeQuorum ${writeQuorum}`);
        assert.deepEqual(plan.purge, []);
      }
    });

    test('keeps them when some herder did not promise (its copy may be the missing one)', () => {
      for (const [n, promisers] of [
        [3, ['n0', 'n1']],
        [3, ['n0', 'n2']],
        [5, ['n0', 'n1', 'n2', 'n3']],
      ] as const) {
        const plan = planned(n, [...promisers]);
        assert.deepEqual(merged(plan).sort(), ['lonely@2.9', 'x@2.8'], `${n} herders, promisers ${promisers.join(',')}`);
        assert.deepEqual(plan.purge, []);
      }
    });
  });
});
