// The term/promise rules as a state machine: one FlockClock per simulated
// herder, each over its own ItemStore(MemoryBackend), with ClaimRound and
// QuorumCount doing the counting. Covers: a herder promises a term only if it
// is higher than any before; accept refuses lower terms and raises the
// promise on higher ones; two candidates of one term never both win (seeded
// random interleavings, sequential and concurrent); a stale leader cannot
// find a majority that accepts its term once a newer term won; a promise
// survives a restart (a new clock over the same store); promises and accepts
// interleaved with next()/observe() and restarts keep versions increasing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClaimRound } from '../../../src/cluster/claim-round.js';
import type { ListingEntry } from '../../../src/cluster/flock-listing.js';
import { QuorumCount } from '../../../src/cluster/quorum.js';
import { FlockClock } from '../../../src/scheduler/flock-clock.js';
import { ItemStore } from '../../../src/store/item-store.js';
import { MemoryBackend } from '../../../src/store/memory-backend.js';
import { prng, shuffled, subsets } from '../../helpers/prng.js';

const FLOCK = 7;

function herders(n: number): { ids: string[]; clocks: Map<string, FlockClock> } {
  const ids = Array.from({ length: n }, (_, i) => `h${i}`);
  return { ids, clocks: new Map(ids.map((id) => [id, new FlockClock(new ItemStore(new MemoryBackend()), 8)])) };
}

const noListing: ListingEntry[] = [];

describe('promises', () => {
  test('a herder promises a term only if it is higher than every term it promised before', async () => {
    const clock = new FlockClock(new ItemStore(new MemoryBackend()));
    assert.equal(await clock.promised(FLOCK), 0);
    assert.deepEqual(await clock.promise(FLOCK, 3), { promised: true, term: 3 });
    assert.deepEqual(await clock.promise(FLOCK, 3), { promised: false, term: 3 });
    assert.deepEqual(await clock.promise(FLOCK, 2), { promised: false, term: 3 });
    assert.deepEqual(await clock.promise(FLOCK, 0), { promised: false, term: 3 });
    assert.deepEqual(await clock.promise(FLOCK, 4), { promised: true, term: 4 });
    assert.equal(await clock.promised(FLOCK), 4);
    assert.equal(await clock.promised(FLOCK + 1), 0, 'another flock has its own terms');
  });

  test('concurrent promises of one term: exactly one is made', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const clock = new FlockClock(new ItemStore(new MemoryBackend()));
      const term = 1 + Math.floor(prng(seed)() * 5);
      const answers = await Promise.all(Array.from({ length: 6 }, () => clock.promise(FLOCK, term)));
      assert.equal(answers.filter((a) => a.promised).length, 1, `seed ${seed}`);
      assert.ok(answers.every((a) => a.term === term));
    }
  });

  test('accept refuses writes of a lower term and durably raises the promise on a higher one', async () => {
    const store = new ItemStore(new MemoryBackend());
    const clock = new FlockClock(store);
    await clock.promise(FLOCK, 3);
    assert.equal(await clock.accept(FLOCK, 2), false);
    assert.equal(await clock.accept(FLOCK, 3), true);
    assert.equal(await clock.promised(FLOCK), 3);
    assert.equal(await clock.accept(FLOCK, 5), true);
    assert.equal(await clock.promised(FLOCK), 5);
    assert.equal((await store.readFlockMeta(FLOCK))?.term, 5, 'the raised promise is in the flock metadata');
    // A write of term 5 was accepted: no candidate may now be promised 5 or 4.
    assert.equal((await clock.promise(FLOCK, 5)).promised, false);
    assert.equal((await clock.promise(FLOCK, 4)).promised, false);
    assert.equal(await clock.accept(FLOCK, 4), false);
    assert.equal((await clock.promise(FLOCK, 6)).promised, true);
    assert.equal(await clock.accept(FLOCK, 5), false);
  });

  test('an accept racing a promise of a higher term never leaves the promise lowered', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rand = prng(seed);
      const clock = new FlockClock(new ItemStore(new MemoryBackend()));
      const ops = shuffled(
        [() => clock.promise(FLOCK, 4).then((a) => a.promised), () => clock.accept(FLOCK, 3), () => clock.accept(FLOCK, 5), () => clock.promise(FLOCK, 2).then((a) => a.promised)],
        rand,
      );
      await Promise.all(ops.map((op) => op()));
      assert.equal(await clock.promised(FLOCK), 5, `seed ${seed}`);
      assert.equal(await clock.accept(FLOCK, 4), false, `seed ${seed}`);
    }
  });
});

describe('two candidates in the same term cannot both win', () => {
  type Deliver = (to: string, term: number) => Promise<{ promised: boolean; term: number }>;

  /** Candidates all choose `term` and ask every herder (themselves included) in a seeded order. */
  async function election(seed: number, n: number, candidates: number, deliver: (ids: string[]) => Deliver): Promise<string[]> {
    const rand = prng(seed);
    const ids = Array.from({ length: n }, (_, i) => `h${i}`);
    const send = deliver(ids);
    // Some herders already promised lower (or equal) terms to earlier candidates.
    for (const id of ids) {
      const earlier = Math.floor(rand() * 3);
      if (earlier > 0) await send(id, earlier);
    }
    const term = 2 + Math.floor(rand() * 2);
    const rounds = ids.slice(0, candidates).map((selfId) => new ClaimRound({ flock: FLOCK, term, herders: ids, selfId }));
    const messages = shuffled(
      rounds.flatMap((round) => ids.map((to) => ({ round, to }))),
      rand,
    );
    const ask = async ({ round, to }: { round: ClaimRound; to: string }) => {
      const answer = await send(to, round.term);
      if (answer.promised) round.promise(to, noListing);
      else round.refuse(to, answer.term);
    };
    if (rand() < 0.5) {
      for (const message of messages) await ask(message);
    } else {
      await Promise.all(messages.map(ask));
    }
    return rounds.filter((r) => r.state === 'won').map((r) => r.selfId);
  }

  /** Herders with a FlockClock each (the real rule). */
  const clocks = (ids: string[]): Deliver => {
    const { clocks: byId } = herders(ids.length);
    return (to, term) => byId.get(to)!.promise(FLOCK, term);
  };

  /** Herders that promise a term equal to their promise again (a broken rule): shows the interleavings can make two winners. */
  const lenient = (ids: string[]): Deliver => {
    const promised = new Map(ids.map((id) => [id, 0]));
    return async (to, term) => {
      const ok = term >= promised.get(to)!;
      if (ok) promised.set(to, term);
      return { promised: ok, term: promised.get(to)! };
    };
  };

  for (const [n, candidates] of [
    [3, 2],
    [5, 2],
    [5, 3],
  ] as const) {
    test(`${n} herders, ${candidates} candidates, seeded interleavings: never two winners`, async () => {
      const wins = new Map<string, number>();
      for (let seed = 1; seed <= 150; seed++) {
        const winners = await election(seed, n, candidates, clocks);
        assert.ok(winners.length <= 1, `seed ${seed}: ${winners.join(' and ')} both won`);
        for (const w of winners) wins.set(w, (wins.get(w) ?? 0) + 1);
      }
      // Not vacuous: each candidate wins some elections.
      for (let i = 0; i < candidates; i++) assert.ok((wins.get(`h${i}`) ?? 0) > 0, `h${i} never won`);
    });
  }

  test('the same interleavings with herders that re-promise an equal term do make two winners', async () => {
    let doubleWins = 0;
    for (let seed = 1; seed <= 150; seed++) if ((await election(seed, 3, 2, lenient)).length > 1) doubleWins++;
    assert.ok(doubleWins > 0, 'the interleavings never let two candidates collect promises at once');
  });
});

describe('a stale leader cannot commit', () => {
  for (const n of [3, 5]) {
    test(`${n} herders: after a candidate won term 2 from a majority, no majority accepts a write of term 1`, async () => {
      const majority = Math.floor(n / 2) + 1;
      for (let seed = 1; seed <= 20; seed++) {
        const rand = prng(seed * 31 + n);
        const { ids, clocks } = herders(n);
        const leader = 'h0';
        // Term 1: h0 leads; every herder accepted its writes.
        assert.equal((await clocks.get(leader)!.promise(FLOCK, 1)).promised, true);
        for (const id of ids) assert.equal(await clocks.get(id)!.accept(FLOCK, 1), true);
        // A candidate claims term 2 from a random majority (itself included), maybe without h0.
        const candidate = ids[1 + Math.floor(rand() * (n - 1))]!;
        const others = shuffled(
          ids.filter((id) => id !== candidate),
          rand,
        );
        const promisers = [candidate, ...others.slice(0, majority - 1 + Math.floor(rand() * (n - majority + 1)))];
        const round = new ClaimRound({ flock: FLOCK, term: 2, herders: ids, selfId: candidate });
        for (const id of promisers) {
          const answer = await clocks.get(id)!.promise(FLOCK, 2);
          assert.equal(answer.promised, true);
          round.promise(id, noListing);
        }
        assert.equal(round.state, 'won');

        // The old leader tries a write of term 1: every herder (itself included) checks the term.
        const accepts = new Map<string, boolean>();
        for (const id of shuffled(ids, rand)) accepts.set(id, await clocks.get(id)!.accept(FLOCK, 1));
        for (const quorum of subsets(ids, majority)) {
          assert.ok(
            quorum.some((id) => accepts.get(id) === false),
            `seed ${seed}: promisers ${promisers.join(',')}; ${quorum.join(',')} all accept term 1`,
          );
        }
        const count = new QuorumCount(n, 'majority');
        for (const id of ids) (accepts.get(id) ? count.ack() : count.fail());
        assert.equal(count.state, 'lost', `seed ${seed}`);
        // Exactly the herders that did not promise still take term 1: a minority.
        assert.deepEqual(
          ids.filter((id) => accepts.get(id)),
          ids.filter((id) => !promisers.includes(id)),
        );
        if (promisers.includes(leader)) assert.equal(await clocks.get(leader)!.promised(FLOCK), 2, 'the old leader sees it was deposed');
        // The new term's writes are taken everywhere, after which nobody takes term 1.
        for (const id of ids) assert.equal(await clocks.get(id)!.accept(FLOCK, 2), true);
        for (const id of ids) assert.equal(await clocks.get(id)!.accept(FLOCK, 1), false);
      }
    });
  }

  test('without the newer term reaching a majority, term 1 still has a majority (the check is not vacuous)', async () => {
    const { ids, clocks } = herders(3);
    for (const id of ids) await clocks.get(id)!.accept(FLOCK, 1);
    await clocks.get('h1')!.promise(FLOCK, 2); // one promise only: the claim did not win
    const accepting = [];
    for (const id of ids) if (await clocks.get(id)!.accept(FLOCK, 1)) accepting.push(id);
    assert.deepEqual(accepting, ['h0', 'h2']);
  });
});

describe('a promise survives restart', () => {
  test('a new clock over the same store holds the promise and refuses lower or equal terms', async () => {
    const store = new ItemStore(new MemoryBackend());
    const before = new FlockClock(store);
    assert.equal((await before.promise(FLOCK, 4)).promised, true);
    const after = new FlockClock(store);
    assert.equal(await after.promised(FLOCK), 4);
    assert.deepEqual(await after.promise(FLOCK, 4), { promised: false, term: 4 });
    assert.deepEqual(await after.promise(FLOCK, 3), { promised: false, term: 4 });
    assert.equal(await after.accept(FLOCK, 3), false);
    assert.equal(await after.accept(FLOCK, 4), true);
    assert.equal((await after.promise(FLOCK, 5)).promised, true);
    assert.equal(await new FlockClock(store).promised(FLOCK), 5);
  });

  test('a promise raised by accept survives restart too', async () => {
    const store = new ItemStore(new MemoryBackend());
    assert.equal(await new FlockClock(store).accept(FLOCK, 9), true);
    const after = new FlockClock(store);
    assert.equal(await after.promised(FLOCK), 9);
    assert.equal((await after.promise(FLOCK, 9)).promised, false);
  });

  test('promises, accepts, next() and observe() interleaved with restarts: versions keep growing and the promise is never lost', async () => {
    for (let seed = 1; seed <= 15; seed++) {
      const rand = prng(seed);
      const store = new ItemStore(new MemoryBackend());
      let clock = new FlockClock(store, 1 + Math.floor(rand() * 6));
      let highestSeq = 0;
      let term = 0;
      const handedOut = new Set<number>();
      for (let step = 0; step < 40; step++) {
        const where = `seed ${seed}, step ${step}`;
        const ops: (() => Promise<void>)[] = [];
        const count = 1 + Math.floor(rand() * 3);
        for (let k = 0; k < count; k++) {
          const pick = rand();
          if (pick < 0.35) {
            const floor = highestSeq;
            const n = 1 + Math.floor(rand() * 4);
            const at = Math.max(1, term);
            ops.push(async () => {
              const versions = await clock.next(FLOCK, n, at);
              assert.equal(versions.length, n);
              for (const v of versions) {
                assert.ok(v.seq > floor, `${where}: seq ${v.seq} handed out again (had ${floor})`);
                assert.equal(v.term, at);
              }
              for (let i = 1; i < versions.length; i++) assert.equal(versions[i]!.seq, versions[i - 1]!.seq + 1);
              for (const v of versions) {
                assert.ok(!handedOut.has(v.seq), `${where}: seq ${v.seq} handed out twice`);
                handedOut.add(v.seq);
              }
              highestSeq = Math.max(highestSeq, ...versions.map((v) => v.seq));
            });
          } else if (pick < 0.5) {
            const t = term + 1;
            ops.push(async () => {
              if ((await clock.promise(FLOCK, t)).promised) term = Math.max(term, t);
            });
          } else if (pick < 0.65) {
            const t = term + Math.floor(rand() * 2);
            ops.push(async () => {
              if (await clock.accept(FLOCK, t)) term = Math.max(term, t);
            });
          } else if (pick < 0.85) {
            const seq = highestSeq + Math.floor(rand() * 20);
            ops.push(async () => {
              await clock.observe(FLOCK, { term: Math.max(1, term), seq });
              highestSeq = Math.max(highestSeq, seq);
            });
          } else {
            ops.push(async () => {});
          }
        }
        await Promise.all(ops.map((op) => op()));
        // Whatever ran, the durable state covers it.
        const meta = await store.readFlockMeta(FLOCK);
        assert.ok((meta?.seqReserved ?? 0) >= highestSeq, `${where}: reserved ${meta?.seqReserved} < ${highestSeq}`);
        assert.equal(meta?.term ?? 0, term, `${where}: durable term`);
        if (rand() < 0.25) {
          clock = new FlockClock(store, 1 + Math.floor(rand() * 6));
          assert.equal(await clock.promised(FLOCK), term, `${where}: promise after restart`);
          const [first] = await clock.next(FLOCK, 1, Math.max(1, term));
          assert.ok(first!.seq > highestSeq, `${where}: after restart seq ${first!.seq} <= ${highestSeq}`);
          handedOut.add(first!.seq);
          highestSeq = first!.seq;
        }
      }
    }
  });
});
