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
 */
import { GrexError } from '../errors.js';
import type { Logger } from '../log.js';
import type { FlockClock } from '../scheduler/flock-clock.js';
import { decodeRecordBytes, encodeItemRecordParts, type ItemRecord, type RecordBytes } from '../store/item-record.js';
import type { ItemStore } from '../store/item-store.js';
import { compareVersions } from '../store/version.js';
import type { WireEntry } from './bleet-messages.js';
import { ClaimRound, claimNeeds } from './claim-round.js';
import type { ClusterNode, FlockRoute } from './cluster-node.js';
import type { FlockGates } from './flock-gate.js';
import { listingDigest, planSync, type ListingEntry } from './flock-listing.js';
import { quorumSize, type WriteQuorum } from './quorum.js';
import { replicaAction, replicatedCommit, replicateTo, type HeldVersion, type ReplicateAnswer } from './replicator.js';

export interface LeadershipOptions {
  selfId: string;
  cluster: ClusterNode;
  clock: FlockClock;
  store: ItemStore;
  gates: FlockGates;
  writeQuorum: WriteQuorum;
  /** The flock's cached objects on this node may be stale (leadership changed). */
  invalidateFlock: (flock: number) => void;
  /** A bucket changed by replication, sync or repair. */
  invalidateBucket: (bucketKey: string) => void;
  /** Runs work in a bucket's turn of the job queue (so a repair never races a job's commit). */
  inBucket: <T>(bucketKey: string, work: () => Promise<T>) => Promise<T>;
  /** Pause between full anti-entropy passes over the led flocks. */
  antiEntropyMs: number;
  /** Read rate of anti-entropy's verification, in MiB/s. */
  antiEntropyMbps: number;
  /** Rate at which this node copies a flock from its active node (a transfer or a catch-up), in MiB/s. */
  transferMbps: number;
  /** The flock's buckets with cached objects here, hottest first (for a warm handover). */
  hotBuckets?: (flock: number) => string[];
  /** Loads these buckets' objects into the cache (the receiving end of a warm handover). */
  warmBuckets?: (buckets: readonly string[]) => Promise<number>;
  bleetTimeoutMs: number;
  logger: Logger;
  /** Told of each replicated write's round trip to one herder (for metrics). */
  onReplicated?: (seconds: number, err?: unknown) => void;
}

interface Leading {
  term: number;
  /** Asked nodes that said they do not herd the flock (learners): sent every write, never counted. */
  outsiders: Set<string>;
  /** Other herders in sync with this node. */
  synced: Set<string>;
  syncing: Set<string>;
  /** Writes each herder missed since it was last in sync (a sync that overlapped one does not count). */
  misses: Map<string, number>;
  /** Herders whose next sync must read and check every item (anti-entropy found them different). */
  verify: Set<string>;
  /** Woken whenever a herder gets in sync. */
  waiters: (() => void)[];
  /** The learner told it herds now, until this node sees it herding (one at a time per flock). */
  promoting: string | null;
  /** Nodes whose last sync failed: tried again at the next tick, not as soon as a slot frees. */
  failed: Set<string>;
}

/** A flock being copied to this node (it is a learner), as GET /cluster shows it. */
export interface Transfer {
  flock: number;
  /** The active node it is copied from. */
  source: string;
  /** Pages of the active node's listing done, of `pages`. */
  page: number;
  pages: number;
  items: number;
  bytes: number;
  startedAt: number;
}

const FETCH_BATCH = 128;
const SYNC_PAGE_BUCKETS = 256;
const SYNC_PAGE_ENTRIES = 4096;
const MAX_SYNCS = 8;
/** Flocks a node drops at once. */
const MAX_DROPS = 8;
const MAX_CLAIMS = 16;
const CLAIM_RETRY_MS = 200;
const CLAIM_GRACE_MS = 300;
/** How long a node that stepped down waits for its view to name the next active node, to hand it over warm. */
const HANDOVER_WAIT_MS = 10_000;
const WARM_BUCKETS = 1000;
/** Flocks checked for leftovers per tick (1024 flocks: every 16 s at 250 ms ticks). */
const SWEEP_FLOCKS = 16;

/** A record that removes a listed item wherever it is applied (forced). */
function purgeOf(e: ListingEntry): ItemRecord {
  return { bucketKey: e.bucketKey, itemKey: e.itemKey, version: { term: e.term, seq: e.seq }, tombstone: false, encoding: 'raw', payload: new Uint8Array(0), purge: true };
}

export function toWire(e: ListingEntry): WireEntry {
  return [e.bucketKey, e.itemKey, e.term, e.seq, (e.tombstone ? 1 : 0) | (e.corrupt === true ? 2 : 0)];
}

export function fromWire([bucketKey, itemKey, term, seq, flags]: WireEntry): ListingEntry {
  const entry: ListingEntry = { bucketKey, itemKey, term, seq, tombstone: (flags & 1) !== 0 };
  if ((flags & 2) !== 0) entry.corrupt = true;
  return entry;
}

/**
 * A refusal for a newer term. `nothingStored`: refused before anything of the
 * request was stored (a claim, or a commit before its first write), which the
 * answer says (`stored: false`): the node that forwarded the request may run
 * it once more on the flock's next active node.
 */
function staleTerm(flock: number, promised: number, what: string, nothingStored = false): GrexError {
  return new GrexError('GREX_ERR_STALE_TERM', `${what}: flock ${flock} has a newer term (${promised})`, {
    flock,
    promised,
    retryAfterSeconds: 1,
    ...(nothingStored ? { stored: false } : {}),
  });
}

export class FlockLeadership {
  readonly #o: LeadershipOptions;
  readonly #leading = new Map<number, Leading>();
  readonly #claims = new Map<number, Promise<number>>();
  /** Highest term seen refused, per flock: the next claim goes above it. */
  readonly #seenTerms = new Map<number, number>();
  readonly #claimBackoff = new Map<number, number>();
  /** Active node per flock at the last tick, to claim flocks that just moved here. */
  #lastActive: (string | null)[] | null = null;
  /** Replicated writes, syncs and purges are applied one at a time per flock. */
  readonly #chains = new Map<number, Promise<unknown>>();
  #syncs = 0;
  /** Flocks this node herds (durable in the flock metadata; announced in its member entry). */
  readonly #herding = new Set<number>();
  #announce = false;
  /** Hot buckets of flocks handed over to this node before its view showed it active, by flock. */
  readonly #pendingWarm = new Map<number, string[]>();
  /**
   * Flocks this node stepped down from before its view named the next active node (that
   * node's announcement that it herds the flock had not arrived): the warm handover is sent
   * when the view names it, or dropped after HANDOVER_WAIT_MS.
   */
  readonly #pendingHandover = new Map<number, number>();
  /** When the transfer rate allows the next byte in (ms). */
  #transferFreeAt = 0;
  /** Flocks this node is learning, as last announced. */
  #learning: number[] = [];
  /** Flocks being dropped now, and those whose drop failed since the last tick. */
  readonly #dropping = new Set<number>();
  readonly #dropFailed = new Set<number>();
  #dropCursor = 0;
  #sweepCursor = 0;
  /** Flocks being copied here, by flock. */
  readonly transfers = new Map<number, Transfer>();
  /**
   * This learner's copies, by flock: the term and active node of the sync that
   * is filling it, the next page it expects, and whether every page is in. Only
   * a whole copy of the promoting term is promoted: the active node's "in sync"
   * alone can be stale (this node dropped the flock and is learning it again,
   * with no write in between to tell the active node).
   */
  readonly #copies = new Map<number, { term: number; source: string; nextPage: number; whole: boolean }>();
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;
  #antiEntropy: Promise<void> | null = null;
  #wakeAntiEntropy: (() => void) | null = null;
  readonly counters = {
    claims: 0,
    claimsLost: 0,
    stepDowns: 0,
    syncs: 0,
    repairs: 0,
    tombstonesPurged: 0,
    transfersDone: 0,
    transferBytes: 0,
    flocksPromoted: 0,
    flocksDropped: 0,
    warmedBuckets: 0,
    /** Items sent whole to a herder that lacked the base of an append. */
    wholeResends: 0,
    /** Herders anti-entropy compared with this node, and those it found different (and synced, every item verified). */
    antiEntropyChecks: 0,
    antiEntropyDiffs: 0,
  };

  constructor(options: LeadershipOptions) {
    this.#o = options;
  }

  /** Reads which flocks this node herds (from the flocks' metadata) and announces them. */
  async loadHerding(): Promise<void> {
    for (let flock = 0; flock < this.#o.cluster.flocks; flock++) if (await this.#o.clock.herding(flock)) this.#herding.add(flock);
    this.announceNow();
  }

  /** Whether this node herds a flock (its own, up-to-date view). */
  herds(flock: number): boolean {
    return this.#herding.has(flock);
  }

  /** The flocks this node herds, sorted. */
  herdingList(): number[] {
    return [...this.#herding].sort((a, b) => a - b);
  }

  /** Flocks this node herds. */
  get herdingCount(): number {
    return this.#herding.size;
  }

  /** May this node promise a term for the flock (it herds it, or the flock is fresh and it is a target herder)? */
  mayPromise(flock: number): boolean {
    if (this.#herding.has(flock)) return true;
    const { cluster, selfId } = this.#o;
    return cluster.isFresh(flock) && cluster.route(flock).target.includes(selfId);
  }

  /** May this node take writes of the flock from its active node (it herds it or is a learner)? */
  mayStore(flock: number): boolean {
    return this.mayPromise(flock) || this.#o.cluster.route(flock).learners.includes(this.#o.selfId);
  }

  /** Announces the flocks this node herds now, rather than at the next tick. */
  announceNow(): void {
    this.#announce = false;
    this.#learning = this.#o.cluster.toLearn(this.#herding);
    this.#o.cluster.setHerding(this.#herding, this.#learning);
  }

  /** Checked again in the flock's turn: the flock may have been dropped while a write waited. */
  #assertStores(flock: number): void {
    if (!this.mayStore(flock)) throw new GrexError('GREX_ERR_NOT_HERDER', `node ${this.#o.selfId} does not herd flock ${flock}`, { flock });
  }

  /** Records (durably, by the caller) that this node herds a flock; announced at the next tick. */
  #adopt(flock: number): void {
    if (this.#herding.has(flock)) return;
    this.#herding.add(flock);
    this.#announce = true;
  }

  start(tickMs: number): void {
    this.#timer = setInterval(() => this.#tick(), tickMs);
    this.#timer.unref();
    this.#antiEntropy = this.#antiEntropyLoop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#wakeAntiEntropy?.();
    await this.#antiEntropy;
    await Promise.allSettled([...this.#claims.values(), ...this.#chains.values()]);
  }

  /** The term this node leads a flock at, or null. */
  termIfLeading(flock: number): number | null {
    return this.#leading.get(flock)?.term ?? null;
  }

  /** Flocks this node leads now. */
  ledFlocks(): number[] {
    return [...this.#leading.keys()];
  }

  /** What this node knows of a flock's leadership, for GET /cluster/flocks/:flock. */
  async describe(flock: number): Promise<Record<string, unknown>> {
    const route = this.#o.cluster.route(flock);
    const leading = this.#leading.get(flock);
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
    return [...(this.#leading.get(flock)?.synced ?? [])];
  }

  /** Resolves with the term once this node leads the flock, claiming it if needed. */
  ensureLeading(flock: number): Promise<number> {
    const leading = this.#leading.get(flock);
    if (leading !== undefined) return Promise.resolve(leading.term);
    let claim = this.#claims.get(flock);
    if (claim === undefined) {
      claim = this.#claim(flock).finally(() => this.#claims.delete(flock));
      this.#claims.set(flock, claim);
    }
    return claim;
  }

  stepDown(flock: number, reason: string): void {
    if (!this.#leading.delete(flock)) return;
    this.counters.stepDowns++;
    this.#o.logger.info({ flock, reason }, 'stepped down as active node of a flock');
    this.#o.invalidateFlock(flock);
  }

  /** A connection to a herder dropped: it may miss writes, so it is out of sync everywhere. */
  peerDisconnected(nodeId: string): void {
    for (const leading of this.#leading.values()) this.#markUnsynced(leading, nodeId);
  }

  /** A herder refused as stale: remember its term, so the next claim goes above it. */
  #outbid(flock: number, err: GrexError): void {
    const promised = err.data?.promised;
    if (typeof promised === 'number') this.#seenTerms.set(flock, Math.max(this.#seenTerms.get(flock) ?? 0, promised));
  }

  #markUnsynced(leading: Leading, nodeId: string): void {
    leading.synced.delete(nodeId);
    leading.misses.set(nodeId, (leading.misses.get(nodeId) ?? 0) + 1);
  }

  // ---- claiming ----

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
    if (!herders.includes(selfId) || !this.mayPromise(flock)) throw new GrexError('GREX_ERR_NOT_HERDER', `node ${selfId} does not herd flock ${flock}`, { flock });
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
    this.counters.claims++;
    // Choose the term and promise it to ourselves, with our holdings as of that promise.
    const { term, own, basis } = await this.#o.gates.exclusive(flock, async () => {
      const promised = await this.#o.clock.promised(flock);
      const term = Math.max(promised, this.#seenTerms.get(flock) ?? 0) + 1;
      const made = await this.#o.clock.promise(flock, term, { herd: true });
      if (!made.promised) throw staleTerm(flock, made.term, 'claim', true);
      this.#adopt(flock);
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
      this.counters.claimsLost++;
      this.#seenTerms.set(flock, Math.max(this.#seenTerms.get(flock) ?? 0, round.highestRefusedTerm, term));
      this.#claimBackoff.set(flock, Date.now() + CLAIM_RETRY_MS);
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
        const records = await this.#fetch(holder, flock, batch);
        if (records.length !== batch.length) {
          throw new GrexError('GREX_ERR_FLOCK_UNAVAILABLE', `could not fetch flock ${flock}'s items from ${holder} while claiming it`, { flock, retryAfterSeconds: 1, stored: false });
        }
        fetched.push(...records);
      }
    }
    await this.#o.gates.shared(flock, async () => {
      if ((await this.#o.clock.promised(flock)) !== term) throw staleTerm(flock, await this.#o.clock.promised(flock), 'claim', true);
      const purges: ItemRecord[] = plan.purge.map(purgeOf);
      await this.#applyForced(flock, [...fetched, ...purges]);
      for (const entry of plan.merged) await this.#o.clock.observe(flock, { term: entry.term, seq: entry.seq });
      // This copy now holds every write acknowledged before this term.
      await this.#o.clock.setBasis(flock, term);
      this.#leading.set(flock, {
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
    const leading = this.#leading.get(flock);
    if (leading !== undefined) for (const nodeId of plan.identical) if (nodeId !== selfId) this.#confirmBasis(flock, leading, nodeId);
    this.#o.logger.debug({ flock, term, promisers: round.promisers, bases: round.bases, merged: fetched.length, dropped: plan.purge.length }, 'claimed a flock');
    return term;
  }

  /** Records of these entries from a node, each checked to be the version asked for (or newer). */
  async #fetch(nodeId: string, flock: number, entries: readonly ListingEntry[]): Promise<ItemRecord[]> {
    const answer = await this.#o.cluster.request(nodeId, 'fetch', { flock, keys: entries.map((e) => [e.bucketKey, e.itemKey] as [string, string]) });
    return answer.records.map((bytes) => decodeRecordBytes(bytes, `fetched from ${nodeId}`));
  }

  /** Writes records as they are (the active node's state), and drops cached copies of their buckets. */
  async #applyForced(flock: number, records: readonly ItemRecord[]): Promise<void> {
    if (records.length === 0) return;
    for (const record of records) await this.#o.clock.observe(flock, record.version);
    await this.#o.store.commit(flock, records, { force: true });
    for (const bucketKey of new Set(records.map((r) => r.bucketKey))) this.#o.invalidateBucket(bucketKey);
  }

  // ---- the active node's commits ----

  /**
   * Commits a change as the flock's active node: fenced by the term (checked
   * under the flock's gate, so no promise of a newer term can slip in), written
   * locally and to every other herder, acknowledged once the write quorum of
   * in-sync herders holds it.
   */
  commit(flock: number, records: ItemRecord[], commitLocally: () => Promise<void>): Promise<void> {
    return this.#o.gates.shared(flock, async () => {
      const leading = this.#leading.get(flock);
      const term = records[0]?.version.term ?? 0;
      if (leading === undefined || leading.term !== term) throw staleTerm(flock, leading?.term ?? 0, 'commit', true);
      const promised = await this.#o.clock.promised(flock);
      if (promised !== term) {
        this.stepDown(flock, `promised term ${promised}`);
        throw staleTerm(flock, promised, 'commit', true);
      }
      const route = this.#o.cluster.route(flock);
      const recipients = [...new Set([...route.herders, ...route.learners])].filter((id) => id !== this.#o.selfId);
      const counted = this.#counted(flock, leading);
      if (1 + inSync(leading, counted) < quorumSize(counted.length, this.#o.writeQuorum)) await this.#enoughInSync(flock, leading, counted);
      // Encoded once, and only if there is another herder to send them to.
      let encoded: RecordBytes[] | null = null;
      let stale: GrexError | null = null;
      // A herder lacking an append's base gets the whole item, read here once stored here.
      let local: Promise<void> | null = null;
      const storedHere = () => (local ??= commitLocally());
      // Learners get every write (less to copy), but their word counts for nothing.
      for (const nodeId of recipients) {
        if (leading.outsiders.has(nodeId) && this.#o.cluster.isLive(nodeId)) {
          encoded ??= records.map(encodeItemRecordParts);
          this.#replicate(leading, nodeId, flock, term, records, encoded, storedHere).catch(() => {});
        }
      }
      const attempt = (herders: string[]) =>
        replicatedCommit({
        herders,
        selfId: this.#o.selfId,
        quorum: this.#o.writeQuorum,
        commitLocally: storedHere,
        sendTo: async (nodeId) => {
          const inSync = leading.synced.has(nodeId);
          encoded ??= records.map(encodeItemRecordParts);
          const sent = this.#replicate(leading, nodeId, flock, term, records, encoded, storedHere).catch((err: GrexError) => {
            if (err.code === 'GREX_ERR_STALE_TERM') stale = err;
            throw err;
          });
          if (!inSync) {
            // It still gets the write (less to catch up), but its word does not count.
            sent.catch(() => {});
            throw new GrexError('GREX_ERR_QUORUM', `herder ${nodeId} is catching up`);
          }
          if (!(await sent)) throw new GrexError('GREX_ERR_QUORUM', `node ${nodeId} does not herd flock ${flock}`);
        },
        onMiss: () => {
          this.#o.cluster.counters.replicationFailures++;
        },
      });
      try {
        await attempt(counted);
      } catch (err) {
        // A node answered that it no longer herds the flock (it just dropped it): count without it, once.
        const now = this.#counted(flock, leading);
        const retry = (err as GrexError).code === 'GREX_ERR_QUORUM' && stale === null && now.length < counted.length;
        if (!retry) {
          if ((err as GrexError).code === 'GREX_ERR_QUORUM') this.#missedQuorum(flock);
          throw stale ?? err;
        }
        await attempt(now).catch((again: unknown) => {
          if ((again as GrexError).code === 'GREX_ERR_QUORUM') this.#missedQuorum(flock);
          throw stale ?? again;
        });
      }
      if (stale !== null) throw stale;
    });
  }

  /**
   * A write missed its quorum: it stays in this node's copy, maybe nowhere
   * else, and jobs here would read it as if acknowledged. Step down: the next
   * job claims the flock again, and that claim's merge decides whether the
   * write stays (see planMerge).
   */
  #missedQuorum(flock: number): void {
    this.#o.cluster.counters.quorumFailures++;
    this.stepDown(flock, 'a write missed its quorum');
  }

  /**
   * Right after a claim (or a herder's reconnect) too few herders may be in
   * sync for a write quorum while syncs are on their way: wait for them (up
   * to the bleet timeout) rather than fail the write at once.
   */
  async #enoughInSync(flock: number, leading: Leading, herders: readonly string[]): Promise<void> {
    const needed = quorumSize(herders.length, this.#o.writeQuorum);
    if (herders.length <= 1) return;
    const deadline = Date.now() + this.#o.bleetTimeoutMs;
    while (1 + inSync(leading, herders) < needed && Date.now() < deadline && this.#leading.get(flock) === leading) {
      const candidates = herders.filter((id) => id !== this.#o.selfId && !leading.synced.has(id) && this.#o.cluster.isLive(id) && this.#o.cluster.linkTo(id) !== undefined);
      if (1 + inSync(leading, herders) + candidates.length < needed) return; // cannot get there: fail the quorum now
      for (const id of candidates) if (!leading.syncing.has(id)) void this.#sync(flock, leading, id);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        leading.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * The herders the active node counts: itself and every node that may herd
   * the flock (target herders and announced holders), less those that said
   * they do not. Answers, not a lagging view, decide who is left out.
   */
  #counted(flock: number, leading: Leading): string[] {
    const route = this.#o.cluster.route(flock);
    const others = [...new Set([...route.herders, ...route.learners])].filter((id) => id !== this.#o.selfId && !leading.outsiders.has(id));
    return [this.#o.selfId, ...others];
  }

  /** Sends a write to a node; resolves with whether it herds the flock (its word counts). */
  async #replicate(
    leading: Leading,
    nodeId: string,
    flock: number,
    term: number,
    records: readonly ItemRecord[],
    encoded: RecordBytes[],
    storedHere: () => Promise<void>,
  ): Promise<boolean> {
    if (!this.#o.cluster.isLive(nodeId)) {
      this.#markUnsynced(leading, nodeId);
      throw new GrexError('GREX_ERR_PEER_UNAVAILABLE', `herder ${nodeId} is dead`);
    }
    const started = performance.now();
    try {
      const herding = await replicateTo({
        records,
        encoded,
        send: (sent) => this.#o.cluster.request(nodeId, 'replicate', { flock, term, records: sent }),
        storedHere,
        readWhole: (bucketKey, itemKey) => this.#o.store.read(flock, bucketKey, itemKey),
        onWhole: () => void this.counters.wholeResends++,
      });
      this.#o.onReplicated?.((performance.now() - started) / 1000);
      if (!herding) leading.outsiders.add(nodeId);
      return herding;
    } catch (err) {
      this.#o.onReplicated?.((performance.now() - started) / 1000, err);
      this.#markUnsynced(leading, nodeId);
      if ((err as GrexError).code === 'GREX_ERR_STALE_TERM') {
        this.#outbid(flock, err as GrexError);
        this.stepDown(flock, `herder ${nodeId} promised a newer term`);
      }
      if ((err as GrexError).code === 'GREX_ERR_NOT_HERDER') leading.outsiders.add(nodeId);
      throw err;
    }
  }

  // ---- keeping herders in sync ----

  #tick(): void {
    if (this.#stopped) return;
    const { cluster, selfId } = this.#o;
    const active: (string | null)[] = [];
    for (let flock = 0; flock < cluster.flocks; flock++) active.push(cluster.route(flock).active);
    for (const flock of [...this.#leading.keys()]) {
      if (active[flock] !== selfId) void this.#handOver(flock, active[flock] ?? null);
    }
    this.#retryHandovers(active);
    // Claim at once the flocks that just moved here (their active node died), so writes
    // resume without waiting for a request; other flocks are claimed on first use, or
    // when they have learners to copy to.
    const previous = this.#lastActive;
    this.#lastActive = active;
    if (previous !== null) {
      for (let flock = 0; flock < active.length && this.#claims.size < MAX_CLAIMS; flock++) {
        if (active[flock] !== selfId || this.#leading.has(flock) || this.#claims.has(flock)) continue;
        const before = previous[flock] ?? null;
        // Moved here because its active node died (not because members joined): fail over now.
        const movedHere = before !== null && before !== selfId && cluster.stateOf(before) === 'dead';
        const retry = (this.#claimBackoff.get(flock) ?? 0) > 0 && Date.now() >= this.#claimBackoff.get(flock)!;
        const backedOff = (this.#claimBackoff.get(flock) ?? 0) > Date.now();
        // A fresh flock has nothing to copy: its learners are only nodes still joining.
        const hasLearners = !backedOff && !cluster.isFresh(flock) && cluster.route(flock).learners.some((id) => cluster.isLive(id) && cluster.linkTo(id) !== undefined);
        // A warm handover that arrived before this node saw the flock move here.
        const warm = this.#pendingWarm.get(flock);
        if (movedHere || retry || hasLearners || warm !== undefined) {
          this.#claimBackoff.delete(flock);
          this.#pendingWarm.delete(flock);
          if (warm !== undefined) void this.onWarm(flock, warm).catch(() => {});
          else this.ensureLeading(flock).catch(() => {});
        }
      }
    }
    this.#dropNext(true);
    this.#sweepOne();
    // A copy to a node that herds the flock now, or is no longer to learn it, is over (GET /cluster showed it for good).
    for (const flock of this.transfers.keys()) if (this.#herding.has(flock) || !this.mayStore(flock)) this.transfers.delete(flock);
    // What this node must copy changes with the map: announce it (routing then avoids it).
    if (!this.#announce && !sameFlocks(cluster.toLearn(this.#herding), this.#learning)) this.#announce = true;
    if (this.#announce) this.announceNow();
    this.#keepInSync(true);
  }

  /**
   * Starts syncs of the led flocks' herders and learners that are out of sync
   * (at most MAX_SYNCS at once) and, on a tick, tells caught-up learners that
   * they herd. Run every tick, and whenever a sync ends, so a freed slot is
   * used at once rather than at the next tick (a sync promotes its own
   * learner; a node whose last sync failed waits for the tick).
   */
  #keepInSync(onTick: boolean): void {
    if (this.#stopped) return;
    const { cluster, selfId } = this.#o;
    for (const [flock, leading] of this.#leading) {
      if (!onTick && this.#syncs >= MAX_SYNCS) return;
      const route = cluster.route(flock);
      // A promoted learner is seen herding (or gone): the next one may be promoted.
      if (leading.promoting !== null && !route.learners.includes(leading.promoting)) leading.promoting = null;
      // A node seen neither herding nor learning the flock dropped it: if it comes back, it is synced again.
      if (onTick) for (const nodeId of leading.synced) if (!route.herders.includes(nodeId) && !route.learners.includes(nodeId)) leading.synced.delete(nodeId);
      for (const nodeId of [...route.herders, ...route.learners]) {
        if (nodeId === selfId || leading.syncing.has(nodeId)) continue;
        if (!cluster.isLive(nodeId) || cluster.linkTo(nodeId) === undefined) continue;
        if (leading.synced.has(nodeId)) {
          if (onTick) this.#promoteIfLearner(flock, leading, nodeId, route);
          continue;
        }
        if (!onTick && leading.failed.has(nodeId)) continue;
        // Full: keep going only to promote (a `return` here once left later flocks' learners for a later tick).
        if (this.#syncs < MAX_SYNCS) void this.#sync(flock, leading, nodeId);
      }
    }
  }

  /** An in-sync node that is still a learner (or said it does not herd) and should herd the flock: promote it. */
  #promoteIfLearner(flock: number, leading: Leading, nodeId: string, route: FlockRoute): void {
    if ((leading.outsiders.has(nodeId) || route.learners.includes(nodeId)) && route.target.includes(nodeId)) this.#promote(flock, leading, nodeId);
  }

  /**
   * A herder's copy is now this node's state (identical at the claim, or synced):
   * it records this term as its basis (the `herd` bleet; see planMerge). Learners
   * get theirs when promoted. Best effort: without it, the herder only has less say
   * in a later claim's merge.
   */
  #confirmBasis(flock: number, leading: Leading, nodeId: string): void {
    // Only to nodes that herd it already: to a learner `herd` is its promotion, which goes one at a time.
    const route = this.#o.cluster.route(flock);
    if (leading.outsiders.has(nodeId) || route.learners.includes(nodeId) || !route.herders.includes(nodeId)) return;
    this.#o.cluster.request(nodeId, 'herd', { flock, term: leading.term }).catch((err: GrexError) => {
      this.#o.logger.debug({ flock, nodeId, err: err.message }, 'confirming a herder\'s basis failed');
    });
  }

  /** A caught-up learner is told it herds the flock (one at a time per flock). */
  #promote(flock: number, leading: Leading, nodeId: string): void {
    if (leading.promoting !== null) return;
    leading.promoting = nodeId;
    this.#o.cluster.request(nodeId, 'herd', { flock, term: leading.term }).then(
      (answer) => {
        if (answer.herding) {
          leading.outsiders.delete(nodeId);
          this.counters.flocksPromoted++;
        } else if (leading.promoting === nodeId) {
          leading.promoting = null;
        }
      },
      (err: GrexError) => {
        if (leading.promoting === nodeId) leading.promoting = null;
        this.#markUnsynced(leading, nodeId);
        this.#o.logger.debug({ flock, nodeId, err: err.message }, 'telling a learner to herd failed');
      },
    );
  }

  /**
   * Another node is now the flock's first live herder: step down. When it took
   * over by plan (this node is alive and well), tell it which buckets were hot,
   * so it loads them before the first jobs arrive.
   */
  #handOver(flock: number, next: string | null): Promise<void> {
    this.stepDown(flock, `${next ?? 'no node'} is now the first live herder`);
    if (next === null || !this.#o.cluster.isLive(next) || this.#o.cluster.linkTo(next) === undefined) {
      // Not known yet (say, the new herder's announcement is on its way): hand over once it is.
      if (!this.#pendingHandover.has(flock)) this.#pendingHandover.set(flock, Date.now() + HANDOVER_WAIT_MS);
      return Promise.resolve();
    }
    return this.#sendWarm(flock, next);
  }

  /** Pending handovers whose next active node the view now names. */
  #retryHandovers(active: readonly (string | null)[]): void {
    const { cluster, selfId } = this.#o;
    for (const [flock, until] of this.#pendingHandover) {
      const next = active[flock] ?? null;
      if (next === selfId || this.#leading.has(flock) || Date.now() > until) {
        this.#pendingHandover.delete(flock);
      } else if (next !== null && cluster.isLive(next) && cluster.linkTo(next) !== undefined) {
        this.#pendingHandover.delete(flock);
        void this.#sendWarm(flock, next);
      }
    }
  }

  #sendWarm(flock: number, next: string): Promise<void> {
    const hot = this.#o.hotBuckets?.(flock) ?? [];
    // Also sent with no hot buckets: it makes the next active node claim the flock at once.
    return this.#o.cluster.request(next, 'warm', { flock, buckets: hot.slice(0, WARM_BUCKETS) }).then(
      () => {},
      (err: GrexError) => {
        this.#o.logger.debug({ flock, next, err: err.message }, 'warm handover failed');
      },
    );
  }

  /**
   * Shutting down (after the member entry says so): every led flock goes to
   * its next herder, which claims it at once instead of waiting for this
   * node to be declared dead. Resolves when they have taken over (or failed).
   */
  async handOverAll(): Promise<void> {
    const flocks = this.ledFlocks();
    await Promise.all(flocks.map((flock) => this.#handOver(flock, this.#o.cluster.route(flock).active)));
    if (flocks.length > 0) this.#o.logger.info({ flocks: flocks.length }, 'handed over every led flock');
  }

  /**
   * Drops the flocks this node no longer needs to herd (every target herder
   * herds them), up to MAX_DROPS at once, each followed at once by the next
   * (one per tick made a node leaving 768 flocks take over 3 minutes at the
   * default 250 ms, and one at a time still made the drops, not the copies,
   * what a join or a leave waited for). Flocks are independent: each is
   * dropped under its own gate, after mayDrop is checked again there. After a
   * failure, that flock waits for the next tick.
   */
  #dropNext(onTick = false): void {
    if (this.#stopped) return;
    if (onTick) this.#dropFailed.clear();
    const flocks = this.#o.cluster.flocks;
    // From where the last look stopped: flocks that cannot go yet are not looked at first again and again.
    const start = this.#dropCursor;
    for (let i = 0; i < flocks && this.#dropping.size < MAX_DROPS; i++) {
      const flock = (start + i) % flocks;
      if (!this.#herding.has(flock) || this.#dropping.has(flock) || this.#dropFailed.has(flock) || !this.#o.cluster.mayDrop(flock)) continue;
      this.#dropCursor = (flock + 1) % flocks;
      this.#dropping.add(flock);
      this.#drop(flock).then(
        (dropped) => {
          this.#dropping.delete(flock);
          if (dropped) this.#dropNext();
        },
        (err: Error) => {
          this.#dropping.delete(flock);
          this.#dropFailed.add(flock);
          this.#o.logger.warn({ flock, err: err.message }, 'dropping a flock failed; retrying');
        },
      );
    }
  }

  async #drop(flock: number): Promise<boolean> {
    if (this.#leading.has(flock)) void this.#handOver(flock, this.#o.cluster.route(flock).active);
    const dropped = await this.#o.gates.exclusive(flock, async () => {
      if (!this.#o.cluster.mayDrop(flock) || !this.#herding.has(flock)) return false;
      // Not herding first (durably): from now on this node refuses the flock's bleets.
      await this.#o.clock.setHerding(flock, false);
      this.#herding.delete(flock);
      this.#announce = true;
      await this.#removeCopy(flock);
      return true;
    });
    if (dropped) {
      this.counters.flocksDropped++;
      this.#o.invalidateFlock(flock);
      this.#o.logger.info({ flock }, 'dropped a flock: every target herder herds it');
    }
    return dropped;
  }

  /** Removes every item of a flock from this node's store. */
  async #removeCopy(flock: number): Promise<number> {
    this.#copies.delete(flock);
    const listing = await this.#o.store.listFlock(flock);
    for (let i = 0; i < listing.length; i += FETCH_BATCH) {
      const purges: ItemRecord[] = listing.slice(i, i + FETCH_BATCH).map(purgeOf);
      await this.#o.store.commit(flock, purges, { force: true });
    }
    return listing.length;
  }

  /**
   * Leftovers: a flock this node neither herds nor learns, but holds items of
   * (a crash between dropping and removing, or a learner whose target moved
   * on). A few flocks per tick.
   */
  #sweepOne(): void {
    for (let i = 0; i < SWEEP_FLOCKS; i++) this.#sweep(this.#sweepCursor++ % this.#o.cluster.flocks);
  }

  #sweep(flock: number): void {
    const { cluster, selfId } = this.#o;
    if (this.mayStore(flock) || cluster.route(flock).target.includes(selfId)) return;
    void this.#o.gates
      .exclusive(flock, async () => {
        if (this.mayStore(flock)) return 0;
        return this.#removeCopy(flock);
      })
      .then((removed) => {
        if (removed > 0) this.#o.logger.info({ flock, removed }, 'removed the leftover items of a flock this node does not herd');
      })
      .catch(() => {});
  }

  /** Makes a herder identical to this node for one flock, page by page; then it counts as in sync. */
  async #sync(flock: number, leading: Leading, nodeId: string): Promise<void> {
    leading.syncing.add(nodeId);
    this.#syncs++;
    const missesBefore = leading.misses.get(nodeId) ?? 0;
    const verify = leading.verify.delete(nodeId);
    try {
      const listing = await this.#o.store.listFlock(flock);
      const pages = pageListing(listing);
      for (const [index, page] of pages.entries()) {
        if (this.#leading.get(flock) !== leading) return;
        await this.#o.cluster.request(
          nodeId,
          'sync',
          { flock, term: leading.term, from: page.from, to: page.to, entries: page.entries.map(toWire), verify, page: index, pages: pages.length },
          this.#o.bleetTimeoutMs * 3,
        );
      }
      leading.failed.delete(nodeId);
      if (this.#leading.get(flock) === leading && (leading.misses.get(nodeId) ?? 0) === missesBefore) {
        leading.synced.add(nodeId);
        this.counters.syncs++;
        for (const wake of leading.waiters.splice(0)) wake();
        this.#confirmBasis(flock, leading, nodeId);
        // A learner's last page is applied: it herds from now on (not at the next tick).
        this.#promoteIfLearner(flock, leading, nodeId, this.#o.cluster.route(flock));
      }
    } catch (err) {
      leading.failed.add(nodeId);
      if (verify) leading.verify.add(nodeId);
      if ((err as GrexError).code === 'GREX_ERR_STALE_TERM') {
        this.#outbid(flock, err as GrexError);
        this.stepDown(flock, `herder ${nodeId} promised a newer term`);
      }
      this.#o.logger.debug({ flock, nodeId, err: (err as Error).message }, 'sync of a herder failed; retrying');
    } finally {
      leading.syncing.delete(nodeId);
      this.#syncs--;
      // The next sync starts now, in this slot.
      queueMicrotask(() => this.#keepInSync(false));
    }
  }

  // ---- anti-entropy and tombstone collection ----

  async #antiEntropyLoop(): Promise<void> {
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        timer.unref();
        this.#wakeAntiEntropy = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    while (!this.#stopped) {
      await sleep(this.#o.antiEntropyMs);
      for (const flock of this.ledFlocks()) {
        if (this.#stopped) return;
        try {
          await this.#checkFlock(flock);
        } catch (err) {
          this.#o.logger.debug({ flock, err: (err as Error).message }, 'anti-entropy check failed');
        }
      }
    }
  }

  #pace = async (bytes: number): Promise<void> => {
    const ms = (bytes / (this.#o.antiEntropyMbps * 1024 * 1024)) * 1000;
    if (ms >= 1) await new Promise((resolve) => setTimeout(resolve, ms).unref());
  };

  /** Compares verified digests with every in-sync herder; repairs this node's damaged items; collects tombstones. */
  async #checkFlock(flock: number): Promise<void> {
    const leading = this.#leading.get(flock);
    if (leading === undefined) return;
    let own = await this.#o.store.listFlock(flock, { verify: true, pace: this.#pace });
    const damaged = own.filter((e) => e.corrupt === true);
    if (damaged.length > 0) {
      for (const entry of damaged) {
        await this.#o
          .inBucket(entry.bucketKey, async () => {
            // A job may have rewritten it meanwhile: repair only what is still damaged.
            const still = await this.#o.store.read(flock, entry.bucketKey, entry.itemKey).then(
              () => false,
              (err: GrexError) => err.code === 'GREX_ERR_STORE_CORRUPT',
            );
            if (still) await this.repair(flock, entry.bucketKey, entry.itemKey);
          })
          .catch(() => {});
      }
      own = await this.#o.store.listFlock(flock);
    }
    const digest = listingDigest(own);
    const herders = this.#counted(flock, leading).filter((id) => id !== this.#o.selfId);
    let allMatch = true;
    for (const nodeId of herders) {
      if (!leading.synced.has(nodeId)) {
        allMatch = false;
        continue;
      }
      const verdict = await this.#compareWith(flock, leading, nodeId, digest);
      this.counters.antiEntropyChecks++;
      if (verdict !== 'same') allMatch = false;
      if (verdict === 'differs') {
        this.#o.logger.info({ flock, nodeId }, 'anti-entropy found a herder that differs; syncing it');
        this.counters.antiEntropyDiffs++;
        leading.verify.add(nodeId);
        this.#markUnsynced(leading, nodeId);
      }
    }
    const tombstones = own.filter((e) => e.tombstone);
    if (!allMatch || tombstones.length === 0 || this.#leading.get(flock) !== leading) return;
    // Every herder holds these tombstones: they have done their job everywhere.
    const entries = tombstones.map(toWire);
    const results = await Promise.allSettled(herders.map((nodeId) => this.#o.cluster.request(nodeId, 'purge', { flock, term: leading.term, entries })));
    if (results.some((r) => r.status === 'rejected')) return;
    const purged = await this.#purgeMatching(flock, leading.term, tombstones);
    this.counters.tombstonesPurged += purged;
  }

  /**
   * Compares a herder's verified digest of a flock with this node's. Jobs
   * write meanwhile, so a difference counts only when this node's listing
   * did not change while the herder answered (else: 'unknown', left for the
   * next pass), and only when the herder differs twice in a row (a write on
   * its way to it when it listed has landed by the second answer). The
   * herder lists once the replicated writes that reached it before the
   * question are applied. A false "differs" costs a verified sync of the herder and,
   * when every herder of the flock is marked, makes the next write wait for
   * one (before, with stale in-sync entries, fail its quorum).
   */
  async #compareWith(flock: number, leading: Leading, nodeId: string, digest: string): Promise<'same' | 'differs' | 'unknown'> {
    for (let ask = 1; ask <= 2; ask++) {
      const answer = await this.#o.cluster.request(nodeId, 'digest', { flock, term: leading.term }).catch(() => null);
      if (answer === null || this.#leading.get(flock) !== leading) return 'unknown';
      if (listingDigest(await this.#o.store.listFlock(flock)) !== digest) return 'unknown';
      if (answer.digest === digest) return 'same';
    }
    return 'differs';
  }

  /** Removes items whose current version still equals the listed one (under the flock's gate). */
  #purgeMatching(flock: number, term: number, entries: readonly ListingEntry[]): Promise<number> {
    return this.#serially(flock, async () => {
      if ((await this.#o.clock.promised(flock)) !== term) throw staleTerm(flock, await this.#o.clock.promised(flock), 'purge');
      const purges: ItemRecord[] = [];
      for (const entry of entries) {
        const current = await this.#o.store.read(flock, entry.bucketKey, entry.itemKey).catch(() => undefined);
        if (current === undefined || !current.tombstone || current.version.term !== entry.term || current.version.seq !== entry.seq) continue;
        purges.push({ ...current, payload: new Uint8Array(0), purge: true });
      }
      if (purges.length > 0) await this.#o.store.commit(flock, purges, { force: true });
      return purges.length;
    });
  }

  // ---- read repair ----

  /**
   * An item failed its checksum here: takes the newest copy among the other
   * herders and stores it. Enough of them must answer that any write quorum
   * without this node's copy includes one of them; otherwise the newest
   * acknowledged version might be the damaged one, and the item stays an error.
   */
  async repair(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    const leading = this.#leading.get(flock);
    const herders = leading === undefined ? this.#o.cluster.route(flock).herders : this.#counted(flock, leading);
    const others = herders.filter((id) => id !== this.#o.selfId);
    const needed = Math.max(0, herders.length - quorumSize(herders.length, this.#o.writeQuorum) + 1);
    const answers = await Promise.allSettled(
      others.map((nodeId) => this.#o.cluster.request(nodeId, 'fetch', { flock, keys: [[bucketKey, itemKey]] })),
    );
    const ok = answers.filter((a): a is PromiseFulfilledResult<{ records: RecordBytes[] }> => a.status === 'fulfilled');
    if (ok.length < needed) {
      throw new GrexError('GREX_ERR_STORE_CORRUPT', `item ${bucketKey}/${itemKey} is damaged here and too few herders answered to repair it (${ok.length} of ${needed})`);
    }
    let best: ItemRecord | undefined;
    for (const answer of ok) {
      for (const bytes of answer.value.records) {
        const record = decodeRecordBytes(bytes, `repair copy of ${bucketKey}/${itemKey}`);
        if (best === undefined || compareVersions(best.version, record.version) < 0) best = record;
      }
    }
    if (best === undefined) {
      throw new GrexError('GREX_ERR_STORE_CORRUPT', `item ${bucketKey}/${itemKey} is damaged here and no other herder has a copy`);
    }
    await this.#serially(flock, () => this.#applyForced(flock, [best]));
    this.counters.repairs++;
    this.#o.logger.warn({ flock, bucketKey, itemKey, version: best.version }, 'repaired a damaged item from a herder');
    return best.tombstone ? undefined : best;
  }

  // ---- serving other nodes (this node as a herder) ----

  /** Runs work on a flock's state one at a time, under the shared gate. */
  #serially<T>(flock: number, work: () => Promise<T>): Promise<T> {
    const previous = this.#chains.get(flock) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => this.#o.gates.shared(flock, work));
    this.#chains.set(flock, next);
    void next.finally(() => {
      if (this.#chains.get(flock) === next) this.#chains.delete(flock);
    }).catch(() => {});
    return next;
  }

  /**
   * A candidate asks for a promise: given only for a higher term, with what
   * this node holds — and only to the node this node sees as the flock's
   * active node, so a candidate with a passing, different view of who is
   * alive cannot depose a working active node (it retries; views converge).
   */
  async onClaim(flock: number, term: number, candidate: string, adopt = false): Promise<{ entries: WireEntry[]; herding: boolean }> {
    const { cluster, selfId } = this.#o;
    const activeNow = () => cluster.route(flock).active;
    // The candidate may have heard of a change (a node leaving, a learner promoted) this node has not.
    if (activeNow() !== null && activeNow() !== candidate) await cluster.catchUpWith(candidate);
    const active = activeNow();
    if (active !== null && active !== candidate) {
      throw new GrexError('GREX_ERR_NOT_ACTIVE', `node ${selfId} sees ${active} as the active node of flock ${flock}, not ${candidate}`, {
        flock,
        activeNodeId: active,
      });
    }
    if (!this.mayStore(flock)) throw new GrexError('GREX_ERR_NOT_HERDER', `node ${selfId} does not herd flock ${flock}`, { flock });
    return this.#o.gates.exclusive(flock, async () => {
      // A fresh flock (claimed for the first time): its target herders start herding it with this promise.
      // Fresh here too: nobody but the candidate is seen herding it.
      const fresh = cluster.announcedHerders(flock).every((id) => id === candidate);
      const adopting = !this.#herding.has(flock) && adopt && fresh && cluster.route(flock).target.includes(selfId);
      const made = await this.#o.clock.promise(flock, term, { herd: adopting });
      if (!made.promised) throw staleTerm(flock, made.term, 'claim refused');
      if (adopting) this.#adopt(flock);
      const leading = this.#leading.get(flock);
      if (leading !== undefined && leading.term < term) this.stepDown(flock, `promised term ${term} to another node`);
      if (!this.#herding.has(flock)) return { entries: [], herding: false, basis: 0 };
      return { entries: (await this.#o.store.listFlock(flock)).map(toWire), herding: true, basis: await this.#o.clock.basis(flock) };
    });
  }

  /**
   * A replicated write: refused if its term is stale; else the newer versions
   * are stored. Deltas apply only on top of their base version; the items of
   * those that do not are named in the answer (the active node sends them
   * whole). The answer also says whether this node herds the flock.
   */
  onReplicate(flock: number, term: number, records: readonly ItemRecord[]): Promise<ReplicateAnswer> {
    return this.#serially(flock, async () => ({ ...(await this.#storeReplicated(flock, term, records)), herding: this.#herding.has(flock) }));
  }

  async #storeReplicated(flock: number, term: number, records: readonly ItemRecord[]): Promise<{ applied: number; missing: [string, string][] }> {
      this.#assertStores(flock);
      if (!(await this.#o.clock.accept(flock, term))) throw staleTerm(flock, await this.#o.clock.promised(flock), 'replicated write refused');
      const leading = this.#leading.get(flock);
      if (leading !== undefined && leading.term < term) this.stepDown(flock, `a write of term ${term} arrived`);
      const newer: ItemRecord[] = [];
      const missing: [string, string][] = [];
      for (const record of records) {
        const held: HeldVersion = await this.#o.store.head(flock, record.bucketKey, record.itemKey).then(
          (h) => h?.version,
          () => 'damaged' as const,
        );
        const action = replicaAction(record, held);
        if (action === 'store') newer.push(record);
        else if (action === 'missing') missing.push([record.bucketKey, record.itemKey]);
      }
      if (newer.length === 0) return { applied: 0, missing };
      for (const record of newer) await this.#o.clock.observe(flock, record.version);
      const left = await this.#o.store.commit(flock, newer, { partial: true });
      for (const record of left) missing.push([record.bucketKey, record.itemKey]);
      for (const bucketKey of new Set(newer.map((r) => r.bucketKey))) this.#o.invalidateBucket(bucketKey);
      return { applied: newer.length - left.length, missing };
  }

  /**
   * One page of the active node's listing: fetch what differs from it, remove
   * what it does not have. Fetched records are stored batch by batch, at most
   * `transferMbps`, so a copy cut short by a crash keeps what it stored: the
   * next sync skips every item already at the listed version.
   */
  async onSync(
    flock: number,
    term: number,
    from: string | null,
    to: string | null,
    entries: readonly WireEntry[],
    activeId: string,
    verify = false,
    progress: { page?: number | undefined; pages?: number | undefined } = {},
  ): Promise<{ fetched: number; purged: number }> {
    // A node no longer meant to hold the flock (the active node's view lags) refuses before it shows a transfer.
    this.#assertStores(flock);
    if (!(await this.#o.clock.accept(flock, term))) throw staleTerm(flock, await this.#o.clock.promised(flock), 'sync refused');
    // Verified (every record read and checked) when anti-entropy found this herder different.
    const own = await this.#o.store.listFlock(flock, verify ? { from, to, verify, pace: this.#pace } : { from, to });
    const plan = planSync(entries.map(fromWire), own, term);
    const learning = !this.#herding.has(flock);
    const copy = learning ? this.#copyFor(flock, term, activeId, progress.page ?? 0) : undefined;
    let transfer = this.transfers.get(flock);
    if (learning && (transfer === undefined || transfer.source !== activeId || (progress.page ?? 0) === 0)) {
      transfer = { flock, source: activeId, page: 0, pages: progress.pages ?? 1, items: 0, bytes: 0, startedAt: Date.now() };
      this.transfers.set(flock, transfer);
    }
    const checkTerm = async () => {
      this.#assertStores(flock);
      if ((await this.#o.clock.promised(flock)) !== term) throw staleTerm(flock, await this.#o.clock.promised(flock), 'sync refused');
    };
    // Replicated writes of this term may have arrived since the listing: never undo them.
    const keep = async (bucketKey: string, itemKey: string, incoming?: ItemRecord): Promise<boolean> => {
      // Its version is enough (no need to read and compose the whole item); a damaged one is replaced.
      const current = await this.#o.store.head(flock, bucketKey, itemKey).catch(() => undefined);
      return current !== undefined && current.version.term >= term && (incoming === undefined || compareVersions(current.version, incoming.version) > 0);
    };
    let fetched = 0;
    for (let i = 0; i < plan.fetch.length; i += FETCH_BATCH) {
      const records = await this.#fetch(activeId, flock, plan.fetch.slice(i, i + FETCH_BATCH));
      const bytes = records.reduce((sum, r) => sum + r.payload.byteLength, 0);
      await this.#serially(flock, async () => {
        await checkTerm();
        const writes: ItemRecord[] = [];
        for (const record of records) if (!(await keep(record.bucketKey, record.itemKey, record))) writes.push(record);
        await this.#applyForced(flock, writes);
      });
      fetched += records.length;
      this.counters.transferBytes += bytes;
      if (transfer !== undefined) {
        transfer.items += records.length;
        transfer.bytes += bytes;
      }
      await this.#transferPace(bytes);
    }
    const purged = await this.#serially(flock, async () => {
      await checkTerm();
      const purges: ItemRecord[] = [];
      for (const entry of plan.purge) {
        if (await keep(entry.bucketKey, entry.itemKey)) continue;
        purges.push(purgeOf(entry));
      }
      await this.#applyForced(flock, purges);
      return purges.length;
    });
    if (transfer !== undefined) {
      transfer.page = (progress.page ?? 0) + 1;
      transfer.pages = Math.max(transfer.page, progress.pages ?? transfer.page);
    }
    if (copy !== undefined && this.#copies.get(flock) === copy) {
      copy.nextPage = (progress.page ?? 0) + 1;
      copy.whole = copy.nextPage >= (progress.pages ?? 1);
    }
    return { fetched, purged };
  }

  /**
   * The record of a learner's copy that a sync page continues: page 0 starts
   * it afresh; a later page continues it only if it is the next page of the
   * same term's sync from the same active node (else the copy is not whole).
   */
  #copyFor(flock: number, term: number, source: string, page: number): { term: number; source: string; nextPage: number; whole: boolean } | undefined {
    let copy = this.#copies.get(flock);
    if (page === 0) {
      copy = { term, source, nextPage: 0, whole: false };
      this.#copies.set(flock, copy);
    } else if (copy !== undefined && (copy.term !== term || copy.source !== source || copy.nextPage !== page)) {
      this.#copies.delete(flock);
      copy = undefined;
    }
    return copy;
  }

  /** The active node says this learner caught up: it herds the flock from now on (durably). */
  async onHerd(flock: number, term: number): Promise<boolean> {
    const { cluster, selfId } = this.#o;
    if (!cluster.route(flock).target.includes(selfId)) {
      throw new GrexError('GREX_ERR_NOT_HERDER', `node ${selfId} is no longer meant to herd flock ${flock}`, { flock });
    }
    return this.#serially(flock, async () => {
      if (!(await this.#o.clock.accept(flock, term))) throw staleTerm(flock, await this.#o.clock.promised(flock), 'herd refused');
      const copy = this.#copies.get(flock);
      if (!this.#herding.has(flock) && (copy?.whole !== true || copy.term !== term)) {
        throw new GrexError('GREX_ERR_COPY_INCOMPLETE', `node ${selfId} holds no whole copy of flock ${flock} synced at term ${term}`, { flock, term });
      }
      this.#copies.delete(flock);
      // The active node of `term` made this copy identical to its own before promoting it (one metadata write).
      await this.#o.clock.setHerding(flock, true, { basis: term });
      if (!this.#herding.has(flock)) {
        this.#adopt(flock);
        const transfer = this.transfers.get(flock);
        this.transfers.delete(flock);
        this.counters.transfersDone++;
        // ms: from the first page of the copy to now (the rebalance benchmark's per-flock rate).
        const ms = transfer === undefined ? 0 : Date.now() - transfer.startedAt;
        this.#o.logger.info({ flock, items: transfer?.items ?? 0, bytes: transfer?.bytes ?? 0, ms }, 'caught up: herding a flock');
      }
      return true;
    });
  }

  /** Warm handover: this node is (about to be) the flock's active node; load its hot buckets. */
  async onWarm(flock: number, buckets: readonly string[]): Promise<number> {
    if (this.#o.cluster.route(flock).active !== this.#o.selfId) {
      // This node's view has not caught up with the move yet: warm up once it has.
      this.#pendingWarm.set(flock, [...buckets]);
      return 0;
    }
    await this.ensureLeading(flock);
    if (this.#o.warmBuckets === undefined || buckets.length === 0) return 0;
    const loaded = await this.#o.warmBuckets(buckets);
    this.counters.warmedBuckets += loaded;
    return loaded;
  }

  /** One rate for all copies into this node, however many flocks are copied at once. */
  #transferPace = async (bytes: number): Promise<void> => {
    const now = Date.now();
    const start = Math.max(now, this.#transferFreeAt);
    this.#transferFreeAt = start + (bytes / (this.#o.transferMbps * 1024 * 1024)) * 1000;
    const ms = this.#transferFreeAt - now;
    if (ms >= 1) await new Promise((resolve) => setTimeout(resolve, ms).unref());
  };

  /** Records of the asked items as this node holds them (damaged or absent ones left out). */
  async onFetch(flock: number, keys: readonly [string, string][]): Promise<RecordBytes[]> {
    const records: RecordBytes[] = [];
    for (const [bucketKey, itemKey] of keys) {
      const record = await this.#o.store.read(flock, bucketKey, itemKey).catch(() => undefined);
      if (record !== undefined) records.push(encodeItemRecordParts(record));
    }
    return records;
  }

  /** The verified fingerprint of this node's holdings of a flock. */
  async onDigest(flock: number): Promise<{ digest: string; items: number }> {
    // After the replicated writes that arrived before the question, without holding up later ones
    // while the (paced) verified listing reads every item.
    await this.#chains.get(flock)?.catch(() => {});
    const listing = await this.#o.store.listFlock(flock, { verify: true, pace: this.#pace });
    return { digest: listingDigest(listing), items: listing.length };
  }

  /** Removes the listed tombstones where they are still the current version. */
  async onPurge(flock: number, term: number, entries: readonly WireEntry[]): Promise<number> {
    return this.#purgeMatching(flock, term, entries.map(fromWire));
  }
}

/**
 * Counted herders in sync (the active node itself left out): `synced` may still
 * name a node that dropped the flock since, which must not make a quorum look
 * reachable without waiting for syncs.
 */
function inSync(leading: Leading, counted: readonly string[]): number {
  return counted.reduce((n, id) => n + (leading.synced.has(id) ? 1 : 0), 0);
}

function sameFlocks(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((flock, i) => flock === b[i]);
}

/** Splits a sorted listing into pages of whole buckets; each page covers [from, to) of bucket keys. */
export function pageListing(listing: readonly ListingEntry[]): { from: string | null; to: string | null; entries: ListingEntry[] }[] {
  const pages: { from: string | null; to: string | null; entries: ListingEntry[] }[] = [];
  let current: ListingEntry[] = [];
  let buckets = 0;
  let lastBucket: string | null = null;
  for (const entry of listing) {
    if (entry.bucketKey !== lastBucket) {
      if (buckets >= SYNC_PAGE_BUCKETS || current.length >= SYNC_PAGE_ENTRIES) {
        pages.push({ from: null, to: entry.bucketKey, entries: current });
        current = [];
        buckets = 0;
      }
      buckets++;
      lastBucket = entry.bucketKey;
    }
    current.push(entry);
  }
  pages.push({ from: null, to: null, entries: current });
  // Each page starts where the previous one ends; the first starts at the beginning.
  for (let i = 1; i < pages.length; i++) pages[i]!.from = pages[i - 1]!.to;
  return pages;
}
