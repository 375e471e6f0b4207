/**
 * This node as a herder (or learner) of flocks other nodes lead: it answers
 * their claims with a promise and its holdings, stores their replicated
 * writes and sync pages (one at a time per flock, LeadershipState.serially),
 * serves the records they fetch, and, as a learner, keeps track of its copy
 * so that only a whole copy of the promoting term is promoted (onHerd).
 * Copies into this node are paced by `transferMbps`.
 */
import { GrexError } from '../errors.js';
import { encodeItemRecordParts, type ItemRecord, type RecordBytes } from '../store/item-record.js';
import { compareVersions } from '../store/version.js';
import type { BleetResponse, WireEntry } from './bleet-messages.js';
import { planSync } from './flock-listing.js';
import { fromWire, purgeOf, staleTerm, toWire } from './flock-wire.js';
import { FETCH_BATCH, type LeadershipOptions, type LeadershipState, type LearnerCopy } from './leadership-state.js';
import { replicaAction, type HeldVersion, type ReplicateAnswer } from './replicator.js';

export class HerderSide {
  readonly #s: LeadershipState;
  readonly #o: LeadershipOptions;
  /** When the transfer rate allows the next byte in (ms). */
  #transferFreeAt = 0;

  constructor(state: LeadershipState) {
    this.#s = state;
    this.#o = state.o;
  }

  /**
   * A candidate asks for a promise: given only for a higher term, with what
   * this node holds — and only to the node this node sees as the flock's
   * active node, so a candidate with a passing, different view of who is
   * alive cannot depose a working active node (it retries; views converge).
   */
  async onClaim(flock: number, term: number, candidate: string, adopt = false): Promise<BleetResponse<'claim'>> {
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
    if (!this.#s.mayStore(flock)) throw new GrexError('GREX_ERR_NOT_HERDER', `node ${selfId} does not herd flock ${flock}`, { flock });
    return this.#o.gates.exclusive(flock, async () => {
      // A fresh flock (claimed for the first time): its target herders start herding it with this promise.
      // Fresh here too: nobody but the candidate is seen herding it.
      const fresh = cluster.announcedHerders(flock).every((id) => id === candidate);
      const adopting = !this.#s.herding.has(flock) && adopt && fresh && cluster.route(flock).target.includes(selfId);
      const made = await this.#o.clock.promise(flock, term, { herd: adopting });
      if (!made.promised) throw staleTerm(flock, made.term, 'claim refused');
      if (adopting) this.#s.adopt(flock);
      const leading = this.#s.leading.get(flock);
      if (leading !== undefined && leading.term < term) this.#s.stepDown(flock, `promised term ${term} to another node`);
      if (!this.#s.herding.has(flock)) return { entries: [], herding: false, basis: 0 };
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
    return this.#s.serially(flock, async () => ({ ...(await this.#storeReplicated(flock, term, records)), herding: this.#s.herding.has(flock) }));
  }

  async #storeReplicated(flock: number, term: number, records: readonly ItemRecord[]): Promise<{ applied: number; missing: [string, string][] }> {
      this.#s.assertStores(flock);
      if (!(await this.#o.clock.accept(flock, term))) throw staleTerm(flock, await this.#o.clock.promised(flock), 'replicated write refused');
      const leading = this.#s.leading.get(flock);
      if (leading !== undefined && leading.term < term) this.#s.stepDown(flock, `a write of term ${term} arrived`);
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
    this.#s.assertStores(flock);
    if (!(await this.#o.clock.accept(flock, term))) throw staleTerm(flock, await this.#o.clock.promised(flock), 'sync refused');
    // Verified (every record read and checked) when anti-entropy found this herder different.
    const own = await this.#o.store.listFlock(flock, verify ? { from, to, verify, pace: this.#s.pace } : { from, to });
    const plan = planSync(entries.map(fromWire), own, term);
    const learning = !this.#s.herding.has(flock);
    const copy = learning ? this.#copyFor(flock, term, activeId, progress.page ?? 0) : undefined;
    let transfer = this.#s.transfers.get(flock);
    if (learning && (transfer === undefined || transfer.source !== activeId || (progress.page ?? 0) === 0)) {
      transfer = { flock, source: activeId, page: 0, pages: progress.pages ?? 1, items: 0, bytes: 0, startedAt: Date.now() };
      this.#s.transfers.set(flock, transfer);
    }
    const checkTerm = async () => {
      this.#s.assertStores(flock);
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
      const records = await this.#s.fetch(activeId, flock, plan.fetch.slice(i, i + FETCH_BATCH));
      const bytes = records.reduce((sum, r) => sum + r.payload.byteLength, 0);
      await this.#s.serially(flock, async () => {
        await checkTerm();
        const writes: ItemRecord[] = [];
        for (const record of records) if (!(await keep(record.bucketKey, record.itemKey, record))) writes.push(record);
        await this.#s.applyForced(flock, writes);
      });
      fetched += records.length;
      this.#s.counters.transferBytes += bytes;
      if (transfer !== undefined) {
        transfer.items += records.length;
        transfer.bytes += bytes;
      }
      await this.#transferPace(bytes);
    }
    const purged = await this.#s.serially(flock, async () => {
      await checkTerm();
      const purges: ItemRecord[] = [];
      for (const entry of plan.purge) {
        if (await keep(entry.bucketKey, entry.itemKey)) continue;
        purges.push(purgeOf(entry));
      }
      await this.#s.applyForced(flock, purges);
      return purges.length;
    });
    if (transfer !== undefined) {
      transfer.page = (progress.page ?? 0) + 1;
      transfer.pages = Math.max(transfer.page, progress.pages ?? transfer.page);
    }
    if (copy !== undefined && this.#s.copies.get(flock) === copy) {
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
  #copyFor(flock: number, term: number, source: string, page: number): LearnerCopy | undefined {
    let copy = this.#s.copies.get(flock);
    if (page === 0) {
      copy = { term, source, nextPage: 0, whole: false };
      this.#s.copies.set(flock, copy);
    } else if (copy !== undefined && (copy.term !== term || copy.source !== source || copy.nextPage !== page)) {
      this.#s.copies.delete(flock);
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
    return this.#s.serially(flock, async () => {
      if (!(await this.#o.clock.accept(flock, term))) throw staleTerm(flock, await this.#o.clock.promised(flock), 'herd refused');
      const copy = this.#s.copies.get(flock);
      if (!this.#s.herding.has(flock) && (copy?.whole !== true || copy.term !== term)) {
        throw new GrexError('GREX_ERR_COPY_INCOMPLETE', `node ${selfId} holds no whole copy of flock ${flock} synced at term ${term}`, { flock, term });
      }
      this.#s.copies.delete(flock);
      // The active node of `term` made this copy identical to its own before promoting it (one metadata write).
      await this.#o.clock.setHerding(flock, true, { basis: term });
      if (!this.#s.herding.has(flock)) {
        this.#s.adopt(flock);
        const transfer = this.#s.transfers.get(flock);
        this.#s.transfers.delete(flock);
        this.#s.counters.transfersDone++;
        // ms: from the first page of the copy to now (the rebalance benchmark's per-flock rate).
        const ms = transfer === undefined ? 0 : Date.now() - transfer.startedAt;
        this.#o.logger.info({ flock, items: transfer?.items ?? 0, bytes: transfer?.bytes ?? 0, ms }, 'caught up: herding a flock');
      }
      return true;
    });
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
}
