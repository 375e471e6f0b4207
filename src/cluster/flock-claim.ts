/**
 * Claiming a flock: a new term, promised durably by this node and then by a
 * majority of the flock's herders (claim-round.ts), whose holdings are merged
 * into this node's copy before it leads at that term (flock-listing.ts).
 * One claim per flock at a time; a claim lost only to newer terms is tried
 * again at once above them (three rounds at most), and after a lost claim
 * the tick claims the flock again CLAIM_RETRY_MS later (`backoff`).
 */
import { GrexError } from '../errors.js';
import type { ItemRecord } from '../store/item-record.js';
import { ClaimRound, claimNeeds } from './claim-round.js';
import { fromWire, purgeOf, staleTerm } from './flock-wire.js';
import type { HerderSync } from './herder-sync.js';
import { FETCH_BATCH, type LeadershipOptions, type LeadershipState } from './leadership-state.js';

const CLAIM_RETRY_MS = 200;
const CLAIM_GRACE_MS = 300;

export class FlockClaims {
  readonly #s: LeadershipState;
  readonly #o: LeadershipOptions;
  readonly #sync: HerderSync;
  /** Claims under way, by flock (ensureLeading adds and removes them; the tick and stop read them). */
  readonly inFlight = new Map<number, Promise<number>>();
  /** When a flock whose claim was lost may be claimed again (set here; read and cleared by the tick). */
  readonly backoff = new Map<number, number>();

  constructor(state: LeadershipState, sync: HerderSync) {
    this.#s = state;
    this.#o = state.o;
    this.#sync = sync;
  }

  /** Resolves with the term once this node leads the flock, claiming it if needed. */
  ensureLeading(flock: number): Promise<number> {
    const leading = this.#s.leading.get(flock);
    if (leading !== undefined) return Promise.resolve(leading.term);
    let claim = this.inFlight.get(flock);
    if (claim === undefined) {
      claim = this.#claim(flock).finally(() => this.inFlight.delete(flock));
      this.inFlight.set(flock, claim);
    }
    return claim;
  }

  /** Claims a flock; a claim lost only to newer terms is tried again at once above them. */
  async #claim(flock: number): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#claimOnce(flock);
      } catch (err) {
        const outbid = (err as GrexError).data?.outbid === true;
        if (!outbid || attempt >= 3) throw err;
      }
    }
  }

  async #claimOnce(flock: number): Promise<number> {
    const { cluster, selfId } = this.#o;
    const route = cluster.route(flock);
    const herders = route.herders;
    // Routed here as the active node while this node does not hold the flock (yet, or any
    // more: the farm map is moving). For the client that is a moment to wait, not a 404.
    if (!herders.includes(selfId) || !this.#s.mayPromise(flock)) {
      throw new GrexError('GREX_ERR_FLOCK_UNAVAILABLE', `node ${selfId} cannot lead flock ${flock}: it does not herd it at the moment`, { flock, retryAfterSeconds: 1 });
    }
    // Everyone who may herd it is asked; their answers say who does (claim-round.ts).
    const asked = [...new Set([...herders, ...route.learners])];
    const adopt = cluster.isFresh(flock);
    // Too few herders reachable to win: fail now, without raising the term (a node cut off
    // from the others would otherwise inflate its term with every request it gets).
    const reachable = herders.filter((id) => id === selfId || (cluster.isLive(id) && cluster.linkTo(id) !== undefined)).length;
    const needed = claimNeeds(herders.length, this.#o.writeQuorum);
    if (reachable < needed) {
      throw new GrexError('GREX_ERR_FLOCK_UNAVAILABLE', `could not claim flock ${flock}: ${reachable} of ${herders.length} herders reachable, ${needed} needed`, {
        flock,
        retryAfterSeconds: 1,
      });
    }
    this.#s.counters.claims++;
    // Choose the term and promise it to ourselves, with our holdings as of that promise.
    const { term, own, basis } = await this.#o.gates.exclusive(flock, async () => {
      const promised = await this.#o.clock.promised(flock);
      const term = Math.max(promised, this.#s.seenTerms.get(flock) ?? 0) + 1;
      const made = await this.#o.clock.promise(flock, term, { herd: true });
      if (!made.promised) throw staleTerm(flock, made.term, 'claim', true);
      this.#s.adopt(flock);
      return { term, own: await this.#o.store.listFlock(flock), basis: await this.#o.clock.basis(flock) };
    });
    const round = new ClaimRound({ flock, term, herders: asked, selfId, writeQuorum: this.#o.writeQuorum });
    round.promise(selfId, own, true, basis);
    await new Promise<void>((resolve) => {
      let answered = 1;
      let grace: NodeJS.Timeout | null = null;
      // Decided once lost, or won and every herder answered; a won round waits a moment for
      // the rest, since a herder whose promise is in the merge starts out in sync.
      const check = () => {
        if (round.state === 'lost' || answered === asked.length) {
          if (grace !== null) clearTimeout(grace);
          resolve();
        } else if (round.state === 'won' && grace === null) {
          grace = setTimeout(resolve, CLAIM_GRACE_MS);
        }
      };
      for (const nodeId of asked) {
        if (nodeId === selfId) continue;
        if (!cluster.isLive(nodeId) || cluster.linkTo(nodeId) === undefined) {
          round.refuse(nodeId);
          answered++;
          continue;
        }
        cluster.request(nodeId, 'claim', { flock, term, adopt }, this.#o.bleetTimeoutMs).then(
          (answer) => {
            round.promise(nodeId, answer.entries.map(fromWire), answer.herding, answer.basis);
            answered++;
            check();
          },
          (err: GrexError) => {
            if (err.code === 'GREX_ERR_NOT_HERDER') round.outsider(nodeId);
            else round.refuse(nodeId, typeof err.data?.promised === 'number' ? err.data.promised : 0);
            answered++;
            check();
          },
        );
      }
      check();
    });
    // Won, but a herder promised a newer term to someone: it would refuse every write and sync
    // of ours. Claim again above that term instead.
    if (round.state !== 'won' || round.highestRefusedTerm > term) {
      this.#s.counters.claimsLost++;
      this.#s.seenTerms.set(flock, Math.max(this.#s.seenTerms.get(flock) ?? 0, round.highestRefusedTerm, term));
      this.backoff.set(flock, Date.now() + CLAIM_RETRY_MS);
      throw new GrexError('GREX_ERR_FLOCK_UNAVAILABLE', `could not claim flock ${flock}: ${round.promisers.length} of ${round.counted} herders promised, ${round.needed} needed`, {
        flock,
        retryAfterSeconds: 1,
        stored: false,
        outbid: round.highestRefusedTerm >= term,
      });
    }
    // Merge: fetch every newest version this node lacks from a promiser that has it.
    const plan = round.plan();
    const fetched: ItemRecord[] = [];
    for (const [holder, entries] of plan.fetch) {
      if (holder === selfId) continue;
      for (let i = 0; i < entries.length; i += FETCH_BATCH) {
        const batch = entries.slice(i, i + FETCH_BATCH);
        const records = await this.#s.fetch(holder, flock, batch);
        if (records.length !== batch.length) {
          throw new GrexError('GREX_ERR_FLOCK_UNAVAILABLE', `could not fetch flock ${flock}'s items from ${holder} while claiming it`, { flock, retryAfterSeconds: 1, stored: false });
        }
        fetched.push(...records);
      }
    }
    await this.#o.gates.shared(flock, async () => {
      if ((await this.#o.clock.promised(flock)) !== term) throw staleTerm(flock, await this.#o.clock.promised(flock), 'claim', true);
      const purges: ItemRecord[] = plan.purge.map(purgeOf);
      await this.#s.applyForced(flock, [...fetched, ...purges]);
      for (const entry of plan.merged) await this.#o.clock.observe(flock, { term: entry.term, seq: entry.seq });
      // This copy now holds every write acknowledged before this term.
      await this.#o.clock.setBasis(flock, term);
      this.#s.leading.set(flock, {
        term,
        outsiders: new Set(round.outsiders),
        synced: new Set([...plan.identical].filter((id) => id !== selfId)),
        syncing: new Set(),
        misses: new Map(),
        verify: new Set(),
        waiters: [],
        promoting: null,
        failed: new Set(),
      });
    });
    this.#o.invalidateFlock(flock);
    const leading = this.#s.leading.get(flock);
    if (leading !== undefined) for (const nodeId of plan.identical) if (nodeId !== selfId) this.#sync.confirmBasis(flock, leading, nodeId);
    this.#o.logger.debug({ flock, term, promisers: round.promisers, bases: round.bases, merged: fetched.length, dropped: plan.purge.length }, 'claimed a flock');
    return term;
  }
}
