/**
 * Flock leadership: terms, fenced commits, catch-up, anti-entropy, repair.
 *
 * A node serves a flock only while it leads it at a term, and it leads only
 * after claiming: a new term promised (durably) by a majority of the flock's
 * herders, whose holdings it then merges (claim-round.ts, flock-listing.ts).
 * Every write carries its term; a herder refuses writes of a term lower than
 * its promise, and the active node checks its own promise under the flock's
 * gate before each commit, so a deposed node can never reach a write quorum.
 *
 * Per led flock the active node keeps which other herders are in sync with
 * it. Only their acknowledgements count toward the write quorum. A herder
 * becomes in sync by being identical to the active node after the claim, or
 * by a sync: the active node streams its listing page by page, the herder
 * fetches what differs and removes what the active node does not have. A
 * herder that misses a write, or whose connection drops, is out of sync until
 * the next sync. Anti-entropy compares verified digests periodically, at a
 * limited read rate, and syncs herders that differ; tombstones every herder
 * holds are then removed everywhere.
 *
 * States of a flock on a node: follower (default) -> claiming -> leading ->
 * follower (stepped down: a higher term was promised or seen, a replica
 * refused a write as stale, or it is no longer the first live herder).
 *
 * This file is the facade: it owns the parts below, each handed the shared
 * LeadershipState (leadership-state.ts: options, led flocks, herding set,
 * learner copies, counters), and runs the tick that drives them.
 * - flock-claim.ts: claiming a flock (a term promised by a majority, merge).
 * - fenced-commit.ts: the active node's fenced, replicated commits.
 * - herder-sync.ts: syncing out-of-sync herders, promoting caught-up learners.
 * - flock-handover.ts: stepping down with a warm handover, both ends.
 * - flock-drops.ts: dropping flocks no longer needed, sweeping leftovers.
 * - anti-entropy.ts: digest comparison and tombstone collection, both ends.
 * - read-repair.ts: a damaged item replaced by a herder's copy.
 * - herder-side.ts: the bleets this node answers as a herder or learner.
 * - flock-wire.ts: pure helpers (wire entries, sync pages, stale-term errors).
 */
import type { ItemRecord, RecordBytes } from '../store/item-record.js';
import { AntiEntropy } from './anti-entropy.js';
import type { BleetResponse, WireEntry } from './bleet-messages.js';
import { FencedCommits } from './fenced-commit.js';
import { FlockClaims } from './flock-claim.js';
import { FlockDrops } from './flock-drops.js';
import { FlockHandovers } from './flock-handover.js';
import { HerderSide } from './herder-side.js';
import { HerderSync } from './herder-sync.js';
import { LeadershipState, markUnsynced, type LeadershipOptions, type Transfer } from './leadership-state.js';
import { repairItem } from './read-repair.js';
import type { ReplicateAnswer } from './replicator.js';

export type { LeadershipOptions, Transfer } from './leadership-state.js';
export { fromWire, pageListing, toWire } from './flock-wire.js';

const MAX_CLAIMS = 16;

export class FlockLeadership {
  readonly #s: LeadershipState;
  readonly #o: LeadershipOptions;
  readonly #sync: HerderSync;
  readonly #claims: FlockClaims;
  readonly #commits: FencedCommits;
  readonly #handovers: FlockHandovers;
  readonly #drops: FlockDrops;
  readonly #antiEntropy: AntiEntropy;
  readonly #herderSide: HerderSide;
  /** Active node per flock at the last tick, to claim flocks that just moved here. */
  #lastActive: (string | null)[] | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** Flocks being copied here, by flock. */
  readonly transfers: Map<number, Transfer>;
  readonly counters: LeadershipState['counters'];

  constructor(options: LeadershipOptions) {
    this.#o = options;
    this.#s = new LeadershipState(options);
    this.#sync = new HerderSync(this.#s);
    this.#claims = new FlockClaims(this.#s, this.#sync);
    this.#commits = new FencedCommits(this.#s, this.#sync);
    this.#handovers = new FlockHandovers(this.#s, this.#claims);
    this.#drops = new FlockDrops(this.#s, this.#handovers);
    this.#antiEntropy = new AntiEntropy(this.#s);
    this.#herderSide = new HerderSide(this.#s);
    this.transfers = this.#s.transfers;
    this.counters = this.#s.counters;
  }

  /** Reads which flocks this node herds (from the flocks' metadata) and announces them. */
  async loadHerding(): Promise<void> {
    for (let flock = 0; flock < this.#o.cluster.flocks; flock++) if (await this.#o.clock.herding(flock)) this.#s.herding.add(flock);
    this.announceNow();
  }

  /** Whether this node herds a flock (its own, up-to-date view). */
  herds(flock: number): boolean {
    return this.#s.herding.has(flock);
  }

  /** The flocks this node herds, sorted. */
  herdingList(): number[] {
    return [...this.#s.herding].sort((a, b) => a - b);
  }

  /** Flocks this node herds. */
  get herdingCount(): number {
    return this.#s.herding.size;
  }

  /** May this node promise a term for the flock (it herds it, or the flock is fresh and it is a target herder)? */
  mayPromise(flock: number): boolean {
    return this.#s.mayPromise(flock);
  }

  /** May this node take writes of the flock from its active node (it herds it or is a learner)? */
  mayStore(flock: number): boolean {
    return this.#s.mayStore(flock);
  }

  /** Announces the flocks this node herds now, rather than at the next tick. */
  announceNow(): void {
    this.#s.announceNow();
  }

  start(tickMs: number): void {
    this.#timer = setInterval(() => this.#tick(), tickMs);
    this.#timer.unref();
    this.#antiEntropy.start();
  }

  async stop(): Promise<void> {
    this.#s.stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    await this.#antiEntropy.stop();
    await Promise.allSettled([...this.#claims.inFlight.values(), ...this.#s.chains.values()]);
  }

  /** The term this node leads a flock at, or null. */
  termIfLeading(flock: number): number | null {
    return this.#s.leading.get(flock)?.term ?? null;
  }

  /** Flocks this node leads now. */
  ledFlocks(): number[] {
    return [...this.#s.leading.keys()];
  }

  /** What this node knows of a flock's leadership, for GET /cluster/flocks/:flock. */
  async describe(flock: number): Promise<Record<string, unknown>> {
    const route = this.#o.cluster.route(flock);
    const leading = this.#s.leading.get(flock);
    return {
      flock,
      herders: route.herders,
      active: route.active,
      promisedTerm: await this.#o.clock.promised(flock),
      leading: leading === undefined ? null : { term: leading.term, synced: [...leading.synced], syncing: [...leading.syncing], outsiders: [...leading.outsiders] },
    };
  }

  /** Other herders of a led flock that are in sync. */
  syncedHerders(flock: number): string[] {
    return [...(this.#s.leading.get(flock)?.synced ?? [])];
  }

  /** Resolves with the term once this node leads the flock, claiming it if needed. */
  ensureLeading(flock: number): Promise<number> {
    return this.#claims.ensureLeading(flock);
  }

  stepDown(flock: number, reason: string): void {
    this.#s.stepDown(flock, reason);
  }

  /** A connection to a herder dropped: it may miss writes, so it is out of sync everywhere. */
  peerDisconnected(nodeId: string): void {
    for (const leading of this.#s.leading.values()) markUnsynced(leading, nodeId);
  }

  /** Commits a change as the flock's active node, fenced by its term (fenced-commit.ts). */
  commit(flock: number, records: ItemRecord[], commitLocally: () => Promise<void>): Promise<void> {
    return this.#commits.commit(flock, records, commitLocally);
  }

  /**
   * Shutting down (after the member entry says so): every led flock goes to
   * its next herder, which claims it at once instead of waiting for this
   * node to be declared dead. Resolves when they have taken over (or failed).
   */
  handOverAll(): Promise<void> {
    return this.#handovers.handOverAll();
  }

  /** An item failed its checksum here: replaced by the newest copy among the other herders (read-repair.ts). */
  repair(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    return repairItem(this.#s, flock, bucketKey, itemKey);
  }

  // ---- serving other nodes (herder-side.ts, flock-handover.ts, anti-entropy.ts) ----

  onClaim(flock: number, term: number, candidate: string, adopt = false): Promise<BleetResponse<'claim'>> {
    return this.#herderSide.onClaim(flock, term, candidate, adopt);
  }

  onReplicate(flock: number, term: number, records: readonly ItemRecord[]): Promise<ReplicateAnswer> {
    return this.#herderSide.onReplicate(flock, term, records);
  }

  /** One page of the active node's listing (herder-side.ts). */
  onSync(...page: Parameters<HerderSide['onSync']>): Promise<{ fetched: number; purged: number }> {
    return this.#herderSide.onSync(...page);
  }

  onHerd(flock: number, term: number): Promise<boolean> {
    return this.#herderSide.onHerd(flock, term);
  }

  onWarm(flock: number, buckets: readonly string[]): Promise<number> {
    return this.#handovers.onWarm(flock, buckets);
  }

  onFetch(flock: number, keys: readonly [string, string][]): Promise<RecordBytes[]> {
    return this.#herderSide.onFetch(flock, keys);
  }

  onDigest(flock: number): Promise<{ digest: string; items: number }> {
    return this.#antiEntropy.onDigest(flock);
  }

  onPurge(flock: number, term: number, entries: readonly WireEntry[]): Promise<number> {
    return this.#antiEntropy.onPurge(flock, term, entries);
  }

  // ---- the tick ----

  #tick(): void {
    if (this.#s.stopped) return;
    const { cluster, selfId } = this.#o;
    const active: (string | null)[] = [];
    for (let flock = 0; flock < cluster.flocks; flock++) active.push(cluster.route(flock).active);
    for (const flock of [...this.#s.leading.keys()]) {
      if (active[flock] !== selfId) void this.#handovers.handOver(flock, active[flock] ?? null);
    }
    this.#handovers.retryHandovers(active);
    this.#handovers.expireWarm(Date.now());
    // Claim at once the flocks that just moved here (their active node died), so writes
    // resume without waiting for a request; other flocks are claimed on first use, or
    // when they have learners to copy to.
    const previous = this.#lastActive;
    this.#lastActive = active;
    if (previous !== null) {
      const backoff = this.#claims.backoff;
      for (let flock = 0; flock < active.length && this.#claims.inFlight.size < MAX_CLAIMS; flock++) {
        if (active[flock] !== selfId || this.#s.leading.has(flock) || this.#claims.inFlight.has(flock)) continue;
        const before = previous[flock] ?? null;
        // Moved here because its active node died (not because members joined): fail over now.
        const movedHere = before !== null && before !== selfId && cluster.stateOf(before) === 'dead';
        const retry = (backoff.get(flock) ?? 0) > 0 && Date.now() >= backoff.get(flock)!;
        const backedOff = (backoff.get(flock) ?? 0) > Date.now();
        // A fresh flock has nothing to copy: its learners are only nodes still joining.
        const hasLearners = !backedOff && !cluster.isFresh(flock) && cluster.route(flock).learners.some((id) => cluster.isLive(id) && cluster.linkTo(id) !== undefined);
        // A warm handover that arrived before this node saw the flock move here, or whose claim failed.
        const warm = this.#handovers.pendingWarm.get(flock)?.buckets;
        if (movedHere || retry || hasLearners || warm !== undefined) {
          backoff.delete(flock);
          if (warm !== undefined) void this.onWarm(flock, warm).catch(() => {});
          else this.ensureLeading(flock).catch(() => {});
        }
      }
    }
    this.#drops.dropNext(true);
    this.#drops.sweepOne();
    // A copy to a node that herds the flock now, or is no longer to learn it, is over (GET /cluster showed it for good).
    for (const flock of this.transfers.keys()) if (this.#s.herding.has(flock) || !this.mayStore(flock)) this.transfers.delete(flock);
    // What this node must copy changes with the map: announce it (routing then avoids it).
    if (!this.#s.announce && !sameFlocks(cluster.toLearn(this.#s.herding), this.#s.learning)) this.#s.announce = true;
    if (this.#s.announce) this.announceNow();
    this.#sync.keepInSync(true);
  }
}

function sameFlocks(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((flock, i) => flock === b[i]);
}
