/**
 * Anti-entropy and tombstone collection, both ends. The active node
 * periodically reads its led flocks verified (at `antiEntropyMbps`), repairs
 * its own damaged items, and compares its digest with every in-sync herder's:
 * a herder that differs (twice in a row, while this node's copy held still)
 * is marked out of sync and synced with every item verified. When every
 * herder matches, the tombstones all of them hold have done their job and
 * are purged everywhere. The herder's end answers digests and purges.
 */
import type { GrexError } from '../errors.js';
import type { ItemRecord } from '../store/item-record.js';
import type { WireEntry } from './bleet-messages.js';
import { listingDigest, type ListingEntry } from './flock-listing.js';
import { fromWire, staleTerm, toWire } from './flock-wire.js';
import { markUnsynced, type Leading, type LeadershipOptions, type LeadershipState } from './leadership-state.js';
import { repairItem } from './read-repair.js';

export class AntiEntropy {
  readonly #s: LeadershipState;
  readonly #o: LeadershipOptions;
  /** The running loop (start sets it; stop waits for it). */
  #antiEntropy: Promise<void> | null = null;
  /** Ends the loop's current pause (stop calls it). */
  #wakeAntiEntropy: (() => void) | null = null;

  constructor(state: LeadershipState) {
    this.#s = state;
    this.#o = state.o;
  }

  start(): void {
    this.#antiEntropy = this.#antiEntropyLoop();
  }

  /** Called once `stopped` is set: ends the pause and waits for the pass under way. */
  async stop(): Promise<void> {
    this.#wakeAntiEntropy?.();
    await this.#antiEntropy;
  }

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
    while (!this.#s.stopped) {
      await sleep(this.#o.antiEntropyMs);
      for (const flock of [...this.#s.leading.keys()]) {
        if (this.#s.stopped) return;
        try {
          await this.#checkFlock(flock);
        } catch (err) {
          this.#o.logger.debug({ flock, err: (err as Error).message }, 'anti-entropy check failed');
        }
      }
    }
  }

  /** Compares verified digests with every in-sync herder; repairs this node's damaged items; collects tombstones. */
  async #checkFlock(flock: number): Promise<void> {
    const leading = this.#s.leading.get(flock);
    if (leading === undefined) return;
    let own = await this.#o.store.listFlock(flock, { verify: true, pace: this.#s.pace });
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
            if (still) await repairItem(this.#s, flock, entry.bucketKey, entry.itemKey);
          })
          .catch(() => {});
      }
      own = await this.#o.store.listFlock(flock);
    }
    const digest = listingDigest(own);
    const herders = this.#s.counted(flock, leading).filter((id) => id !== this.#o.selfId);
    let allMatch = true;
    for (const nodeId of herders) {
      if (!leading.synced.has(nodeId)) {
        allMatch = false;
        continue;
      }
      const verdict = await this.#compareWith(flock, leading, nodeId, digest);
      this.#s.counters.antiEntropyChecks++;
      if (verdict !== 'same') allMatch = false;
      if (verdict === 'differs') {
        this.#o.logger.info({ flock, nodeId }, 'anti-entropy found a herder that differs; syncing it');
        this.#s.counters.antiEntropyDiffs++;
        leading.verify.add(nodeId);
        markUnsynced(leading, nodeId);
      }
    }
    const tombstones = own.filter((e) => e.tombstone);
    if (!allMatch || tombstones.length === 0 || this.#s.leading.get(flock) !== leading) return;
    // Every herder holds these tombstones: they have done their job everywhere.
    const entries = tombstones.map(toWire);
    const results = await Promise.allSettled(herders.map((nodeId) => this.#o.cluster.request(nodeId, 'purge', { flock, term: leading.term, entries })));
    if (results.some((r) => r.status === 'rejected')) return;
    const purged = await this.#purgeMatching(flock, leading.term, tombstones);
    this.#s.counters.tombstonesPurged += purged;
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
      if (answer === null || this.#s.leading.get(flock) !== leading) return 'unknown';
      if (listingDigest(await this.#o.store.listFlock(flock)) !== digest) return 'unknown';
      if (answer.digest === digest) return 'same';
    }
    return 'differs';
  }

  /** Removes items whose current version still equals the listed one (under the flock's gate). */
  #purgeMatching(flock: number, term: number, entries: readonly ListingEntry[]): Promise<number> {
    return this.#s.serially(flock, async () => {
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

  // ---- the herder's end ----

  /** The verified fingerprint of this node's holdings of a flock. */
  async onDigest(flock: number): Promise<{ digest: string; items: number }> {
    // After the replicated writes that arrived before the question, without holding up later ones
    // while the (paced) verified listing reads every item.
    await this.#s.chains.get(flock)?.catch(() => {});
    const listing = await this.#o.store.listFlock(flock, { verify: true, pace: this.#s.pace });
    return { digest: listingDigest(listing), items: listing.length };
  }

  /** Removes the listed tombstones where they are still the current version. */
  async onPurge(flock: number, term: number, entries: readonly WireEntry[]): Promise<number> {
    return this.#purgeMatching(flock, term, entries.map(fromWire));
  }
}
