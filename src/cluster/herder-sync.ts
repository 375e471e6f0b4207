/**
 * The active node's side of keeping a led flock's herders in sync: a herder
 * or learner that is out of sync is synced (the active node streams its
 * listing page by page; the herder fetches what differs and removes what the
 * active node does not have), then counts as in sync and records this term
 * as its basis; a caught-up learner that should herd the flock is told so
 * (promoted), one at a time per flock. At most MAX_SYNCS syncs run at once.
 */
import type { GrexError } from '../errors.js';
import type { FlockRoute } from './cluster-node.js';
import { pageListing, toWire } from './flock-wire.js';
import { markUnsynced, type Leading, type LeadershipOptions, type LeadershipState } from './leadership-state.js';

const MAX_SYNCS = 8;

export class HerderSync {
  readonly #s: LeadershipState;
  readonly #o: LeadershipOptions;
  /** Syncs running now (this class alone counts them). */
  #syncs = 0;

  constructor(state: LeadershipState) {
    this.#s = state;
    this.#o = state.o;
  }

  /**
   * Starts syncs of the led flocks' herders and learners that are out of sync
   * (at most MAX_SYNCS at once) and, on a tick, tells caught-up learners that
   * they herd. Run every tick, and whenever a sync ends, so a freed slot is
   * used at once rather than at the next tick (a sync promotes its own
   * learner; a node whose last sync failed waits for the tick).
   */
  keepInSync(onTick: boolean): void {
    if (this.#s.stopped) return;
    const { cluster, selfId } = this.#o;
    for (const [flock, leading] of this.#s.leading) {
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
        if (this.#syncs < MAX_SYNCS) void this.sync(flock, leading, nodeId);
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
  confirmBasis(flock: number, leading: Leading, nodeId: string): void {
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
          this.#s.counters.flocksPromoted++;
        } else if (leading.promoting === nodeId) {
          leading.promoting = null;
        }
      },
      (err: GrexError) => {
        if (leading.promoting === nodeId) leading.promoting = null;
        markUnsynced(leading, nodeId);
        this.#o.logger.debug({ flock, nodeId, err: err.message }, 'telling a learner to herd failed');
      },
    );
  }

  /** Makes a herder identical to this node for one flock, page by page; then it counts as in sync. */
  async sync(flock: number, leading: Leading, nodeId: string): Promise<void> {
    leading.syncing.add(nodeId);
    this.#syncs++;
    const missesBefore = leading.misses.get(nodeId) ?? 0;
    const verify = leading.verify.delete(nodeId);
    try {
      const listing = await this.#o.store.listFlock(flock);
      const pages = pageListing(listing);
      for (const [index, page] of pages.entries()) {
        if (this.#s.leading.get(flock) !== leading) return;
        await this.#o.cluster.request(
          nodeId,
          'sync',
          { flock, term: leading.term, from: page.from, to: page.to, entries: page.entries.map(toWire), verify, page: index, pages: pages.length },
          this.#o.bleetTimeoutMs * 3,
        );
      }
      leading.failed.delete(nodeId);
      if (this.#s.leading.get(flock) === leading && (leading.misses.get(nodeId) ?? 0) === missesBefore) {
        leading.synced.add(nodeId);
        this.#s.counters.syncs++;
        for (const wake of leading.waiters.splice(0)) wake();
        this.confirmBasis(flock, leading, nodeId);
        // A learner's last page is applied: it herds from now on (not at the next tick).
        this.#promoteIfLearner(flock, leading, nodeId, this.#o.cluster.route(flock));
      }
    } catch (err) {
      leading.failed.add(nodeId);
      if (verify) leading.verify.add(nodeId);
      if ((err as GrexError).code === 'GREX_ERR_STALE_TERM') {
        this.#s.outbid(flock, err as GrexError);
        this.#s.stepDown(flock, `herder ${nodeId} promised a newer term`);
      }
      this.#o.logger.debug({ flock, nodeId, err: (err as Error).message }, 'sync of a herder failed; retrying');
    } finally {
      leading.syncing.delete(nodeId);
      this.#syncs--;
      // The next sync starts now, in this slot.
      queueMicrotask(() => this.keepInSync(false));
    }
  }
}
