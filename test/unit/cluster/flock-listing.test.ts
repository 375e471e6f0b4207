// Flock listings (src/cluster/flock-listing.ts), pure decisions only:
// - planMerge: per item the newest version among the promisers wins (term
//   before seq, tombstones included); a seeded simulation of writes each
//   acknowledged by a random majority checks that the merge over EVERY
//   majority holds every acknowledged write, that fetches name a holder that
//   has the version, and that `identical` is exactly the promisers equal to
//   the merge; corrupt copies never win; dropSelfOnly drops (or reverts) a
//   version only the candidate holds; with bases (and dropSelfOnly when every
//   herder promised, as in a claim) the simulation checks the same.
// - planSync: a herder is made identical to the active node, keeping only
//   writes of the current term that are newer than the listing; a write that
//   reached only a crashed former active node is gone after it rejoins.
// - listingDigest: equal listings, equal digests; any difference changes it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareEntryVersions, listingDigest, planMerge, planSync, sortListing, type ListingEntry } from '../../../src/cluster/flock-listing.js';
import { prng, shuffled, subsets } from '../../helpers/prng.js';

function e(bucketKey: string, itemKey: string, term: number, seq: number, extra: { tombstone?: boolean; corrupt?: boolean } = {}): ListingEntry {
  const entry: ListingEntry = { bucketKey, itemKey, term, seq, tombstone: extra.tombstone ?? false };
  if (extra.corrupt === true) entry.corrupt = true;
  return entry;
}

const id = (x: { bucketKey: string; itemKey: string }) => `${x.bucketKey}/${x.itemKey}`;
const v = (x: ListingEntry) => `${x.term}.${x.seq}${x.tombstone ? 'T' : ''}${x.corrupt === true ? 'C' : ''}`;
/** A listing as "bucket/item@term.seq" strings, for readable comparisons. */
const show = (entries: readonly ListingEntry[]) => sortListing([...entries]).map((x) => `${id(x)}@${v(x)}`);
const listings = (byNode: Record<string, ListingEntry[]>) => new Map(Object.entries(byNode).map(([node, l]) => [node, sortListing([...l])]));
const fetchOf = (fetch: Map<string, ListingEntry[]>) => Object.fromEntries([...fetch].map(([node, l]) => [node, show(l)]));

/** The candidate's holdings after it applied a plan: fetched entries stored, purged ones removed. */
function applyMerge(own: readonly ListingEntry[], fetch: Map<string, ListingEntry[]>, purge: readonly ListingEntry[]): ListingEntry[] {
  const held = new Map(own.filter((x) => x.corrupt !== true).map((x) => [id(x), x]));
  for (const list of fetch.values()) for (const x of list) held.set(id(x), x);
  for (const x of purge) held.delete(id(x));
  return sortListing([...held.values()]);
}

/** A herder's holdings after it applied a sync plan. */
function applySync(own: readonly ListingEntry[], plan: { fetch: ListingEntry[]; purge: ListingEntry[] }): ListingEntry[] {
  const held = new Map(own.map((x) => [id(x), x]));
  for (const x of plan.fetch) held.set(id(x), x);
  for (const x of plan.purge) held.delete(id(x));
  return sortListing([...held.values()]);
}

describe('compareEntryVersions', () => {
  test('orders by term first, then by seq', () => {
    assert.equal(compareEntryVersions(e('b', 'i', 1, 99), e('b', 'i', 2, 1)), -1);
    assert.equal(compareEntryVersions(e('b', 'i', 2, 1), e('b', 'i', 1, 99)), 1);
    assert.equal(compareEntryVersions(e('b', 'i', 2, 3), e('b', 'i', 2, 4)), -1);
    assert.equal(compareEntryVersions(e('b', 'i', 2, 4), e('b', 'i', 2, 4, { tombstone: true })), 0);
  });
});

describe('planMerge', () => {
  test('per item the newest version among the promisers wins, term before seq', () => {
    const plan = planMerge(
      'a',
      listings({
        a: [e('b1', 'x', 1, 50), e('b1', 'y', 2, 3)],
        b: [e('b1', 'x', 2, 4), e('b1', 'y', 1, 90), e('b2', 'z', 1, 7)],
        c: [e('b1', 'x', 2, 2), e('b2', 'z', 1, 8)],
      }),
    );
    assert.deepEqual(show(plan.merged), ['b1/x@2.4', 'b1/y@2.3', 'b2/z@1.8']);
    assert.deepEqual(fetchOf(plan.fetch), { b: ['b1/x@2.4'], c: ['b2/z@1.8'] });
    assert.deepEqual(plan.purge, []);
  });

  test('a newer tombstone beats an older live version, and a newer live version beats an older tombstone', () => {
    const plan = planMerge(
      'a',
      listings({
        a: [e('b', 'gone', 1, 5), e('b', 'back', 1, 6, { tombstone: true })],
        b: [e('b', 'gone', 1, 9, { tombstone: true }), e('b', 'back', 2, 1)],
      }),
    );
    assert.deepEqual(show(plan.merged), ['b/back@2.1', 'b/gone@1.9T']);
    assert.deepEqual(fetchOf(plan.fetch), { b: ['b/back@2.1', 'b/gone@1.9T'] });
  });

  test('an item only one promiser holds is in the merge; a copy the candidate already holds is not fetched', () => {
    const plan = planMerge('a', listings({ a: [e('b', 'mine', 1, 1), e('b', 'both', 1, 2)], b: [e('b', 'both', 1, 2), e('b', 'theirs', 1, 3)] }));
    assert.deepEqual(show(plan.merged), ['b/both@1.2', 'b/mine@1.1', 'b/theirs@1.3']);
    assert.deepEqual(fetchOf(plan.fetch), { b: ['b/theirs@1.3'] });
  });

  test('identical holds exactly the promisers whose listing equals the merge (the candidate included)', () => {
    const same = [e('b', 'x', 1, 2), e('b', 'y', 1, 3, { tombstone: true })];
    const plan = planMerge(
      'a',
      listings({
        a: same,
        b: same,
        c: [e('b', 'x', 1, 2)], // lacks y
        d: [e('b', 'x', 1, 2), e('b', 'y', 1, 3)], // y live instead of a tombstone
        f: [e('b', 'x', 1, 2), e('b', 'y', 1, 3, { tombstone: true, corrupt: true })], // y damaged
      }),
    );
    assert.deepEqual([...plan.identical].sort(), ['a', 'b']);
    assert.deepEqual(plan.fetch.size, 0);
  });

  test('empty listings merge to nothing and every promiser is identical', () => {
    const plan = planMerge('a', listings({ a: [], b: [] }));
    assert.deepEqual(plan.merged, []);
    assert.deepEqual([...plan.identical].sort(), ['a', 'b']);
    assert.equal(plan.fetch.size, 0);
  });

  test('a corrupt entry never wins, however new its listed version', () => {
    const plan = planMerge('a', listings({ a: [e('b', 'x', 1, 5)], b: [e('b', 'x', 9, 99, { corrupt: true })], c: [e('b', 'y', 3, 1, { corrupt: true })] }));
    assert.deepEqual(show(plan.merged), ['b/x@1.5']);
    assert.equal(plan.fetch.size, 0);
    assert.deepEqual([...plan.identical], ['a']);
  });

  test("the candidate's corrupt copy is fetched from a healthy holder, even of the same version", () => {
    const plan = planMerge(
      'a',
      listings({
        a: [e('b', 'x', 2, 5, { corrupt: true }), e('b', 'y', 0, 0, { corrupt: true })],
        b: [e('b', 'x', 2, 5), e('b', 'y', 1, 1)],
      }),
    );
    assert.deepEqual(show(plan.merged), ['b/x@2.5', 'b/y@1.1']);
    assert.deepEqual(fetchOf(plan.fetch), { b: ['b/x@2.5', 'b/y@1.1'] });
    assert.ok(!plan.identical.has('a'));
    assert.ok(plan.identical.has('b'));
  });

  test('dropSelfOnly: a version only the candidate holds reverts to the best other version', () => {
    const byNode = listings({
      a: [e('b', 'x', 2, 7), e('b', 'shared', 2, 8)],
      b: [e('b', 'x', 1, 3), e('b', 'shared', 2, 8)],
      c: [e('b', 'x', 1, 4, { tombstone: true })],
    });
    const dropped = planMerge('a', byNode, true);
    assert.deepEqual(show(dropped.merged), ['b/shared@2.8', 'b/x@1.4T']);
    assert.deepEqual(fetchOf(dropped.fetch), { c: ['b/x@1.4T'] });
    assert.deepEqual(dropped.purge, []);

    const kept = planMerge('a', byNode, false);
    assert.deepEqual(show(kept.merged), ['b/shared@2.8', 'b/x@2.7']);
    assert.equal(kept.fetch.size, 0);
    assert.deepEqual(kept.purge, []);
  });

  test('dropSelfOnly: an item only the candidate holds is purged', () => {
    const byNode = listings({ a: [e('b', 'lonely', 1, 9), e('c', 'x', 1, 1)], b: [e('c', 'x', 1, 1)], c: [] });
    const dropped = planMerge('a', byNode, true);
    assert.deepEqual(show(dropped.merged), ['c/x@1.1']);
    assert.deepEqual(show(dropped.purge), ['b/lonely@1.9']);
    assert.equal(dropped.fetch.size, 0);
    assert.deepEqual([...dropped.identical].sort(), ['b']);
    assert.deepEqual(applyMerge(byNode.get('a')!, dropped.fetch, dropped.purge), dropped.merged);

    const kept = planMerge('a', byNode, false);
    assert.deepEqual(show(kept.merged), ['b/lonely@1.9', 'c/x@1.1']);
    assert.deepEqual(kept.purge, []);
  });

  test('dropSelfOnly keeps a version another promiser also holds, and one another promiser holds newer', () => {
    const plan = planMerge('a', listings({ a: [e('b', 'x', 2, 2), e('b', 'y', 1, 1)], b: [e('b', 'x', 2, 2), e('b', 'y', 2, 5)], c: [] }), true);
    assert.deepEqual(show(plan.merged), ['b/x@2.2', 'b/y@2.5']);
    assert.deepEqual(fetchOf(plan.fetch), { b: ['b/y@2.5'] });
    assert.deepEqual(plan.purge, []);
  });

  test("dropSelfOnly keeps the candidate's version when another promiser's copy of the item is damaged (it may be the acknowledged one)", () => {
    // Write x@2.7 was acknowledged by a (the old active node) and b; b's copy has since
    // been damaged. a's copy is the only healthy one of an acknowledged write: dropping it
    // would lose the write.
    const plan = planMerge('a', listings({ a: [e('b', 'x', 2, 7)], b: [e('b', 'x', 0, 0, { corrupt: true })], c: [e('b', 'x', 1, 3)] }), true);
    assert.deepEqual(show(plan.merged), ['b/x@2.7']);
    assert.deepEqual(plan.purge, []);
    assert.equal(plan.fetch.size, 0);
  });

  for (const n of [3, 5]) {
    test(`seeded: with ${n} herders and writes acknowledged by random majorities, the merge of every majority holds every acknowledged write`, () => {
      const majority = Math.floor(n / 2) + 1;
      const herders = Array.from({ length: n }, (_, i) => `h${i}`);
      const keys = ['u1', 'u2', 'u3'].flatMap((b) => ['p', 'q', 'r'].map((i) => ({ bucketKey: b, itemKey: i })));
      let scatteredRuns = 0;
      for (let seed = 1; seed <= 25; seed++) {
        const rand = prng(seed * 7919 + n);
        const held = new Map(herders.map((h) => [h, new Map<string, ListingEntry>()]));
        /** The latest acknowledged write of each item. */
        const acked = new Map<string, ListingEntry>();
        let term = 1;
        let seq = 0;
        for (let w = 0; w < 40; w++) {
          if (rand() < 0.1) term++;
          const key = keys[Math.floor(rand() * keys.length)]!;
          const write = e(key.bucketKey, key.itemKey, term, ++seq, { tombstone: rand() < 0.2 });
          const acknowledged = rand() < 0.8;
          const reach = acknowledged ? majority + Math.floor(rand() * (n - majority + 1)) : 1 + Math.floor(rand() * (majority - 1));
          for (const h of shuffled(herders, rand).slice(0, reach)) held.get(h)!.set(id(write), write);
          if (acknowledged) acked.set(id(write), write);
        }
        const listingOf = (h: string) => sortListing([...held.get(h)!.values()]);
        const hasEveryAcked = (h: string) => [...acked.values()].every((w) => held.get(h)!.get(id(w))?.seq === w.seq);
        if (!herders.some(hasEveryAcked)) scatteredRuns++;

        for (const promisers of subsets(herders, majority)) {
          const byNode = new Map(promisers.map((h) => [h, listingOf(h)]));
          for (const self of promisers) {
            const modes = promisers.length === n ? [false, true] : [false];
            for (const dropSelfOnly of modes) {
              const where = `seed ${seed}, promisers ${promisers.join(',')}, candidate ${self}, dropSelfOnly ${dropSelfOnly}`;
              const plan = planMerge(self, byNode, dropSelfOnly);
              const merged = new Map(plan.merged.map((x) => [id(x), x]));
              // Every acknowledged write (or a newer version of its item) is in the merge.
              for (const w of acked.values()) {
                const m = merged.get(id(w));
                assert.ok(m !== undefined && compareEntryVersions(m, w) >= 0, `${where}: ${id(w)}@${v(w)} lost (merged ${m ? v(m) : 'nothing'})`);
              }
              // Without dropping, the merge is exactly the per-item maximum over the promisers.
              if (!dropSelfOnly) {
                const max = new Map<string, ListingEntry>();
                for (const h of promisers) for (const x of held.get(h)!.values()) if (!max.has(id(x)) || compareEntryVersions(max.get(id(x))!, x) < 0) max.set(id(x), x);
                assert.deepEqual(show(plan.merged), show([...max.values()]), where);
                assert.deepEqual(plan.purge, [], where);
              }
              // Fetch lists name a promiser (not the candidate) that holds exactly that version.
              for (const [holder, list] of plan.fetch) {
                assert.ok(promisers.includes(holder) && holder !== self, `${where}: fetch from ${holder}`);
                for (const x of list) {
                  const has = held.get(holder)!.get(id(x));
                  assert.ok(has !== undefined && v(has) === v(x), `${where}: ${holder} does not hold ${id(x)}@${v(x)}`);
                }
              }
              // Fetching and purging makes the candidate hold exactly the merge.
              assert.deepEqual(show(applyMerge(listingOf(self), plan.fetch, plan.purge)), show(plan.merged), where);
              // identical: exactly the promisers whose holdings equal the merge.
              const expected = promisers.filter((h) => listingDigest(listingOf(h)) === listingDigest(plan.merged));
              assert.deepEqual([...plan.identical].sort(), expected.sort(), where);
            }
          }
        }
      }
      // The simulation must exercise the hard case: no single herder had every acknowledged write.
      assert.ok(scatteredRuns >= 10, `only ${scatteredRuns} of 25 runs scattered the acknowledged writes`);
    });
  }
});

describe('planMerge with bases', () => {
  test("a version of an older term that the highest basis's copy lacks is a leftover: left out, the candidate's purged", () => {
    // a led term 1 and was cut off holding an unacknowledged x@1.4 and lonely@1.5; b won term 2
    // (basis 2) from b and c, and wrote nothing. a claims again with b only (c is slow).
    const byNode = listings({ a: [e('b', 'x', 1, 4), e('b', 'lonely', 1, 5)], b: [e('b', 'x', 1, 3)] });
    const plan = planMerge('a', byNode, false, new Map([['a', 1], ['b', 2]]));
    assert.deepEqual(show(plan.merged), ['b/x@1.3']);
    assert.deepEqual(show(plan.purge), ['b/lonely@1.5']);
    assert.deepEqual(fetchOf(plan.fetch), { b: ['b/x@1.3'] });
    assert.deepEqual([...plan.identical], ['b']);
    // Without bases the leftover would win.
    assert.deepEqual(show(planMerge('a', byNode).merged), ['b/lonely@1.5', 'b/x@1.4']);
  });

  test('versions of the basis term or later are merged as usual, and equal bases share the say', () => {
    const byNode = listings({
      a: [e('b', 'x', 2, 9), e('b', 'y', 1, 2)],
      b: [e('b', 'x', 2, 7), e('b', 'y', 1, 3)],
      c: [e('b', 'x', 2, 8), e('b', 'z', 1, 6)],
    });
    const plan = planMerge('a', byNode, false, new Map([['a', 1], ['b', 2], ['c', 2]]));
    assert.deepEqual(show(plan.merged), ['b/x@2.9', 'b/y@1.3', 'b/z@1.6']);
    assert.deepEqual(fetchOf(plan.fetch), { b: ['b/y@1.3'], c: ['b/z@1.6'] });
    assert.deepEqual(plan.purge, []);
  });

  test('dropSelfOnly: a version the candidate of the highest basis shares with copies of a lower basis is not lonely: kept', () => {
    // The fault harness's loss: a claimed term 5 and wrote nothing to x since; b and c promised
    // that claim but never got their basis (a partition cut the `herd` bleet). When a claims
    // again and everyone promises, b's and c's x@3.10 are left out of the choice (their basis
    // is lower), but they still hold it: x was not only a's, and must not be purged.
    const byNode = listings({ a: [e('b', 'x', 3, 10)], b: [e('b', 'x', 3, 10)], c: [e('b', 'x', 3, 10)] });
    const plan = planMerge('a', byNode, true, new Map([['a', 5], ['b', 3], ['c', 0]]));
    assert.deepEqual(show(plan.merged), ['b/x@3.10']);
    assert.deepEqual(plan.purge, []);
    assert.equal(plan.fetch.size, 0);
  });

  test("dropSelfOnly: a lonely version of the highest basis's copy over one the others hold from before that basis is kept", () => {
    // Seen in the fault harness (an append list): a claimed term 4 (basis 4) with c, whose sync
    // to x@3.9 was cut by a partition; a's next write x@4.10 reached no one. With everyone
    // promising term 11, b's x@2.5 and c's x@3.8 are below the highest basis and were left out,
    // so x@4.10 looked like the only copy of x and was purged: the list was lost (x@3.8 held
    // acknowledged appends). Which older version was acknowledged a's copy no longer tells:
    // keeping x@4.10 (never acknowledged, but built on them) loses nothing.
    const plan = planMerge('a', listings({ a: [e('b', 'x', 4, 10)], b: [e('b', 'x', 2, 5)], c: [e('b', 'x', 3, 8)] }), true, new Map([['a', 4], ['b', 2], ['c', 3]]));
    assert.deepEqual(show(plan.merged), ['b/x@4.10']);
    assert.deepEqual(plan.purge, []);
  });

  test('dropSelfOnly: a lonely version of a candidate below the highest basis, whose copy lacks the item, is purged', () => {
    // b's copy is term 5's state and has no x; c's x@3.10 is a leftover; a's x@6.1 reached no one.
    const plan = planMerge('a', listings({ a: [e('b', 'x', 6, 1)], b: [], c: [e('b', 'x', 3, 10)] }), true, new Map([['a', 3], ['b', 5], ['c', 3]]));
    assert.deepEqual(plan.merged, []);
    assert.deepEqual(show(plan.purge), ['b/x@6.1']);
  });

  for (const n of [3, 5]) {
    test(`seeded, ${n} herders: terms claimed by random majorities with bases, writes acknowledged or not: every merge holds every acknowledged write`, () => {
      const majority = Math.floor(n / 2) + 1;
      const herders = Array.from({ length: n }, (_, i) => `h${i}`);
      const keys = ['p', 'q', 'r', 's'].map((itemKey) => ({ bucketKey: 'u', itemKey }));
      let leftoversDropped = 0;
      for (let seed = 1; seed <= 120; seed++) {
        const rand = prng(seed * 104_729 + n);
        const held = new Map(herders.map((h) => [h, [] as ListingEntry[]]));
        const bases = new Map(herders.map((h) => [h, 0]));
        const acked = new Map<string, ListingEntry>();
        const set = (h: string, x: ListingEntry) => held.set(h, sortListing([...held.get(h)!.filter((y) => id(y) !== id(x)), x]));
        let seq = 0;
        for (let term = 1; term <= 10; term++) {
          // A leader claims from a random majority (itself included) and merges.
          const promisers = shuffled(herders, rand).slice(0, majority + Math.floor(rand() * (n - majority + 1)));
          const leader = promisers[0]!;
          // As ClaimRound.plan: when every herder promised, versions only the leader holds are dropped.
          const everyone = promisers.length === n;
          const plan = planMerge(leader, new Map(promisers.map((h) => [h, held.get(h)!])), everyone, bases);
          for (const w of acked.values()) {
            const m = plan.merged.find((x) => id(x) === id(w));
            assert.ok(m !== undefined && compareEntryVersions(m, w) >= 0, `seed ${seed} term ${term}: ${id(w)}@${v(w)} lost by the claim`);
          }
          if (plan.purge.length > 0 || show(planMerge(leader, new Map(promisers.map((h) => [h, held.get(h)!])), everyone).merged).join() !== show(plan.merged).join()) leftoversDropped++;
          held.set(leader, applyMerge(held.get(leader)!, plan.fetch, plan.purge));
          bases.set(leader, term);
          // Identical promisers are told their basis, best effort.
          for (const h of plan.identical) if (h !== leader && rand() < 0.5) bases.set(h, term);
          // Writes: each reaches the leader and random others; acknowledged with a majority.
          for (let w = 0; w < 6; w++) {
            const key = keys[Math.floor(rand() * keys.length)]!;
            const write = e(key.bucketKey, key.itemKey, term, ++seq);
            const reach = 1 + Math.floor(rand() * n);
            for (const h of [leader, ...shuffled(herders.filter((x) => x !== leader), rand)].slice(0, reach)) set(h, write);
            if (reach >= majority) acked.set(id(write), write);
          }
          // Now and then the leader syncs a herder: identical to it, basis this term.
          for (const h of herders) {
            if (h === leader || rand() >= 0.3) continue;
            held.set(h, [...held.get(leader)!]);
            bases.set(h, term);
          }
        }
      }
      assert.ok(leftoversDropped >= 5, `bases changed only ${leftoversDropped} merges: the simulation does not exercise them`);
    });
  }
});

describe('planSync', () => {
  test('entries whose version differs from the active node, or that the herder lacks, are fetched', () => {
    const active = [e('b', 'newer', 2, 5), e('b', 'missing', 1, 2), e('b', 'same', 1, 3), e('b', 'deleted', 2, 6, { tombstone: true }), e('b', 'older', 1, 1)];
    const own = [e('b', 'newer', 1, 40), e('b', 'same', 1, 3), e('b', 'deleted', 1, 4), e('b', 'older', 1, 9)];
    const plan = planSync(sortListing(active), sortListing(own), 2);
    assert.deepEqual(show(plan.fetch), ['b/deleted@2.6T', 'b/missing@1.2', 'b/newer@2.5', 'b/older@1.1']);
    assert.deepEqual(plan.purge, []);
    assert.deepEqual(show(applySync(own, plan)), show(active));
  });

  test('identical listings need nothing', () => {
    const listing = sortListing([e('b', 'x', 1, 1), e('c', 'y', 2, 2, { tombstone: true })]);
    assert.deepEqual(planSync(listing, listing.map((x) => ({ ...x })), 3), { fetch: [], purge: [] });
  });

  test("the herder's entries the active node lacks are purged when older than its term, kept when written at the term", () => {
    const active = [e('b', 'x', 3, 1)];
    const own = [e('b', 'x', 3, 1), e('b', 'stale', 2, 99), e('b', 'stale-tomb', 1, 5, { tombstone: true }), e('b', 'fresh', 3, 4), e('b', 'fresh-tomb', 3, 5, { tombstone: true })];
    const plan = planSync(active, sortListing(own), 3);
    assert.deepEqual(plan.fetch, []);
    assert.deepEqual(show(plan.purge), ['b/stale@2.99', 'b/stale-tomb@1.5T']);
  });

  test('a copy written at the current term and newer than the listing is kept; one at the term but older is fetched', () => {
    const active = [e('b', 'ahead', 3, 4), e('b', 'behind', 3, 9), e('b', 'old-term', 3, 2)];
    const own = [e('b', 'ahead', 3, 7), e('b', 'behind', 3, 8), e('b', 'old-term', 2, 50)];
    const plan = planSync(sortListing(active), sortListing(own), 3);
    assert.deepEqual(show(plan.fetch), ['b/behind@3.9', 'b/old-term@3.2']);
    assert.deepEqual(plan.purge, []);
  });

  test('corrupt own copies are fetched when the active node has the item and purged when it does not', () => {
    const active = [e('b', 'x', 2, 5)];
    const own = [e('b', 'x', 2, 5, { corrupt: true }), e('b', 'y', 0, 0, { corrupt: true }), e('b', 'z', 4, 1, { corrupt: true })];
    const plan = planSync(active, sortListing(own), 4);
    assert.deepEqual(show(plan.fetch), ['b/x@2.5']);
    assert.deepEqual(show(plan.purge), ['b/y@0.0C', 'b/z@4.1C']);
  });

  test('a write that reached only the crashed former active node is gone after it rejoins and does not overwrite later state', () => {
    // Term 1: a leads; w1 reached everyone, then a wrote x@1.20 and lonely@1.21 that reached
    // only itself, and crashed. Term 2: b claimed from {b, c}; the merge does not see a's writes.
    const a = [e('b', 'w1', 1, 10), e('b', 'x', 1, 20), e('b', 'lonely', 1, 21)];
    const b = [e('b', 'w1', 1, 10), e('b', 'x', 1, 5)];
    const c = [e('b', 'w1', 1, 10), e('b', 'x', 1, 5)];
    const claim = planMerge('b', listings({ b, c }));
    assert.deepEqual(show(claim.merged), ['b/w1@1.10', 'b/x@1.5']);
    // b, active at term 2, writes x again (a lower seq than a's lost write, a higher term).
    const bNow = sortListing([e('b', 'w1', 1, 10), e('b', 'x', 2, 11)]);
    // a rejoins and is synced by b.
    const plan = planSync(bNow, sortListing([...a]), 2);
    assert.deepEqual(show(plan.fetch), ['b/x@2.11']);
    assert.deepEqual(show(plan.purge), ['b/lonely@1.21']);
    const aAfter = applySync(a, plan);
    assert.equal(listingDigest(aAfter), listingDigest(bNow));
    // Had a's lonely write been allowed back by "newest wins", it would now be in a merge of
    // a and c; after the sync no merge of any two herders contains it.
    for (const pair of [['a', 'b'], ['a', 'c'], ['b', 'c']] as const) {
      const all = { a: aAfter, b: bNow, c: applySync(c, planSync(bNow, sortListing([...c]), 2)) };
      const merged = planMerge(pair[0], listings({ [pair[0]]: all[pair[0]], [pair[1]]: all[pair[1]] })).merged;
      assert.deepEqual(show(merged), show(bNow), pair.join('+'));
    }
  });

  test('when every herder promises, the rejoined former active node cannot bring its lonely write back by claiming', () => {
    // a crashed holding writes only it ever had; it comes back before any sync and claims,
    // and all three herders promise.
    const byNode = listings({
      a: [e('b', 'x', 1, 20), e('b', 'lonely', 1, 21), e('b', 'w1', 1, 10)],
      b: [e('b', 'x', 2, 11), e('b', 'w1', 1, 10)],
      c: [e('b', 'x', 1, 5), e('b', 'w1', 1, 10)],
    });
    const plan = planMerge('a', byNode, true);
    assert.deepEqual(show(plan.merged), ['b/w1@1.10', 'b/x@2.11']);
    assert.deepEqual(show(plan.purge), ['b/lonely@1.21']);
    assert.deepEqual(fetchOf(plan.fetch), { b: ['b/x@2.11'] });
  });
});

describe('listingDigest', () => {
  const base = sortListing([e('b1', 'x', 1, 2), e('b1', 'y', 2, 3, { tombstone: true }), e('b2', 'x', 2, 4)]);

  test('equal listings give equal digests', () => {
    assert.equal(listingDigest(base), listingDigest(base.map((x) => ({ ...x }))));
    assert.equal(listingDigest([]), listingDigest([]));
    assert.match(listingDigest(base), /^[0-9a-f]{32}$/);
  });

  test('any change of version, tombstone or key changes the digest', () => {
    const digest = listingDigest(base);
    const variants: [string, (x: ListingEntry) => ListingEntry][] = [
      ['term', (x) => ({ ...x, term: x.term + 1 })],
      ['seq', (x) => ({ ...x, seq: x.seq + 1 })],
      ['tombstone', (x) => ({ ...x, tombstone: !x.tombstone })],
      ['itemKey', (x) => ({ ...x, itemKey: `${x.itemKey}z` })],
      ['bucketKey', (x) => ({ ...x, bucketKey: `${x.bucketKey}z` })],
    ];
    for (let i = 0; i < base.length; i++) {
      for (const [what, change] of variants) {
        const changed = base.map((x, j) => (j === i ? change(x) : x));
        assert.notEqual(listingDigest(changed), digest, `${what} of entry ${i}`);
      }
    }
    assert.notEqual(listingDigest(base.slice(1)), digest, 'an entry less');
    assert.notEqual(listingDigest([...base, e('b3', 'x', 1, 1)]), digest, 'an entry more');
    // Moving a key boundary must not produce the same text.
    assert.notEqual(listingDigest([e('ab', 'c', 1, 1)]), listingDigest([e('a', 'bc', 1, 1)]));
  });

  test('a corrupt entry never matches the healthy one, whatever version it lists', () => {
    const digest = listingDigest(base);
    const corrupt = base.map((x, j) => (j === 1 ? { ...x, corrupt: true } : x));
    assert.notEqual(listingDigest(corrupt), digest);
    assert.notEqual(listingDigest(base.map((x, j) => (j === 1 ? { ...x, term: 0, seq: 0, tombstone: false, corrupt: true } : x))), digest);
  });
});
