/**
 * What the parts of a node's flock leadership share: its options, the flocks
 * it leads (a Leading record each) and herds, the learner's copies, the
 * counters, and the few small operations every part uses (stepping down,
 * the per-flock chain of herder-side work, fetching and force-applying
 * records). FlockLeadership (flock-leadership.ts) makes one and hands it to
 * each part; the comment on each field says which parts change it.
 */
import { GrexError } from '../errors.js';
import type { Logger } from '../log.js';
import type { FlockClock } from '../scheduler/flock-clock.js';
import { decodeRecordBytes, type ItemRecord } from '../store/item-record.js';
import type { ItemStore } from '../store/item-store.js';
import type { ClusterNode } from './cluster-node.js';
import type { FlockGates } from './flock-gate.js';
import type { ListingEntry } from './flock-listing.js';
import type { WriteQuorum } from './quorum.js';

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

/** A flock this node leads (made by the claim; its sets are changed by commits, syncs and anti-entropy). */
export interface Leading {
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

/** A learner's copy of a flock: the sync filling it, the next page it expects, and whether every page is in. */
export interface LearnerCopy {
  term: number;
  source: string;
  nextPage: number;
  whole: boolean;
}

export const FETCH_BATCH = 128;

export class LeadershipState {
  readonly o: LeadershipOptions;
  /** Led flocks: set by the claim, deleted by stepDown. */
  readonly leading = new Map<number, Leading>();
  /** Highest term seen refused, per flock: the next claim goes above it (outbid, the claim). */
  readonly seenTerms = new Map<number, number>();
  /** Replicated writes, syncs and purges are applied one at a time per flock (serially; stop waits for them). */
  readonly chains = new Map<number, Promise<unknown>>();
  /** Flocks this node herds (durable in the flock metadata; announced in its member entry): adopt adds, a drop removes. */
  readonly herding = new Set<number>();
  /** The herding set changed since the last announcement (set by adopt and drops, cleared by announceNow). */
  announce = false;
  /** Flocks this node is learning, as last announced (announceNow). */
  learning: number[] = [];
  /** Flocks being copied here, by flock (herder-side syncs fill them; onHerd and the tick end them). */
  readonly transfers = new Map<number, Transfer>();
  /**
   * This learner's copies, by flock: the term and active node of the sync that
   * is filling it, the next page it expects, and whether every page is in. Only
   * a whole copy of the promoting term is promoted: the active node's "in sync"
   * alone can be stale (this node dropped the flock and is learning it again,
   * with no write in between to tell the active node). Herder-side syncs fill
   * them, onHerd and a drop's removal delete them.
   */
  readonly copies = new Map<number, LearnerCopy>();
  /** Set once by stop: ticks, syncs, drops and anti-entropy start nothing more. */
  stopped = false;
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
    this.o = options;
  }

  /** May this node promise a term for the flock (it herds it, or the flock is fresh and it is a target herder)? */
  mayPromise(flock: number): boolean {
    if (this.herding.has(flock)) return true;
    const { cluster, selfId } = this.o;
    return cluster.isFresh(flock) && cluster.route(flock).target.includes(selfId);
  }

  /** May this node take writes of the flock from its active node (it herds it or is a learner)? */
  mayStore(flock: number): boolean {
    return this.mayPromise(flock) || this.o.cluster.route(flock).learners.includes(this.o.selfId);
  }

  /** Announces the flocks this node herds now, rather than at the next tick. */
  announceNow(): void {
    this.announce = false;
    this.learning = this.o.cluster.toLearn(this.herding);
    this.o.cluster.setHerding(this.herding, this.learning);
  }

  /** Checked again in the flock's turn: the flock may have been dropped while a write waited. */
  assertStores(flock: number): void {
    if (!this.mayStore(flock)) throw new GrexError('GREX_ERR_NOT_HERDER', `node ${this.o.selfId} does not herd flock ${flock}`, { flock });
  }

  /** Records (durably, by the caller) that this node herds a flock; announced at the next tick. */
  adopt(flock: number): void {
    if (this.herding.has(flock)) return;
    this.herding.add(flock);
    this.announce = true;
  }

  stepDown(flock: number, reason: string): void {
    if (!this.leading.delete(flock)) return;
    this.counters.stepDowns++;
    this.o.logger.info({ flock, reason }, 'stepped down as active node of a flock');
    this.o.invalidateFlock(flock);
  }

  /** A herder refused as stale: remember its term, so the next claim goes above it. */
  outbid(flock: number, err: GrexError): void {
    const promised = err.data?.promised;
    if (typeof promised === 'number') this.seenTerms.set(flock, Math.max(this.seenTerms.get(flock) ?? 0, promised));
  }

  /**
   * The herders the active node counts: itself and every node that may herd
   * the flock (target herders and announced holders), less those that said
   * they do not. Answers, not a lagging view, decide who is left out.
   */
  counted(flock: number, leading: Leading): string[] {
    const route = this.o.cluster.route(flock);
    const others = [...new Set([...route.herders, ...route.learners])].filter((id) => id !== this.o.selfId && !leading.outsiders.has(id));
    return [this.o.selfId, ...others];
  }

  /** Runs work on a flock's state one at a time, under the shared gate. */
  serially<T>(flock: number, work: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(flock) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => this.o.gates.shared(flock, work));
    this.chains.set(flock, next);
    void next.finally(() => {
      if (this.chains.get(flock) === next) this.chains.delete(flock);
    }).catch(() => {});
    return next;
  }

  /** Records of these entries from a node, each checked to be the version asked for (or newer). */
  async fetch(nodeId: string, flock: number, entries: readonly ListingEntry[]): Promise<ItemRecord[]> {
    const answer = await this.o.cluster.request(nodeId, 'fetch', { flock, keys: entries.map((e) => [e.bucketKey, e.itemKey] as [string, string]) });
    return answer.records.map((bytes) => decodeRecordBytes(bytes, `fetched from ${nodeId}`));
  }

  /** Writes records as they are (the active node's state), and drops cached copies of their buckets. */
  async applyForced(flock: number, records: readonly ItemRecord[]): Promise<void> {
    if (records.length === 0) return;
    for (const record of records) await this.o.clock.observe(flock, record.version);
    await this.o.store.commit(flock, records, { force: true });
    for (const bucketKey of new Set(records.map((r) => r.bucketKey))) this.o.invalidateBucket(bucketKey);
  }

  /** Paces verified reads (anti-entropy's own, a herder's digest, a verified sync) to antiEntropyMbps. */
  readonly pace = async (bytes: number): Promise<void> => {
    const ms = (bytes / (this.o.antiEntropyMbps * 1024 * 1024)) * 1000;
    if (ms >= 1) await new Promise((resolve) => setTimeout(resolve, ms).unref());
  };
}

export function markUnsynced(leading: Leading, nodeId: string): void {
  leading.synced.delete(nodeId);
  leading.misses.set(nodeId, (leading.misses.get(nodeId) ?? 0) + 1);
}
