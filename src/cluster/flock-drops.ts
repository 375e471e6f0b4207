/**
 * Dropping flocks this node no longer needs to herd (every target herder
 * herds them), and sweeping leftovers: items of a flock this node neither
 * herds nor learns. A drop first records, durably and under the flock's
 * exclusive gate, that this node does not herd the flock (from then on it
 * refuses the flock's bleets), then removes its copy.
 */
import type { ItemRecord } from '../store/item-record.js';
import type { FlockHandovers } from './flock-handover.js';
import { purgeOf } from './flock-wire.js';
import { FETCH_BATCH, type LeadershipOptions, type LeadershipState } from './leadership-state.js';

/** Flocks a node drops at once. */
const MAX_DROPS = 8;
/** Flocks checked for leftovers per tick (1024 flocks: every 16 s at 250 ms ticks). */
const SWEEP_FLOCKS = 16;

export class FlockDrops {
  readonly #s: LeadershipState;
  readonly #o: LeadershipOptions;
  readonly #handovers: FlockHandovers;
  /** Flocks being dropped now, and those whose drop failed since the last tick. */
  readonly #dropping = new Set<number>();
  readonly #dropFailed = new Set<number>();
  #dropCursor = 0;
  #sweepCursor = 0;

  constructor(state: LeadershipState, handovers: FlockHandovers) {
    this.#s = state;
    this.#o = state.o;
    this.#handovers = handovers;
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
  dropNext(onTick = false): void {
    if (this.#s.stopped) return;
    if (onTick) this.#dropFailed.clear();
    const flocks = this.#o.cluster.flocks;
    // From where the last look stopped: flocks that cannot go yet are not looked at first again and again.
    const start = this.#dropCursor;
    for (let i = 0; i < flocks && this.#dropping.size < MAX_DROPS; i++) {
      const flock = (start + i) % flocks;
      if (!this.#s.herding.has(flock) || this.#dropping.has(flock) || this.#dropFailed.has(flock) || !this.#o.cluster.mayDrop(flock)) continue;
      this.#dropCursor = (flock + 1) % flocks;
      this.#dropping.add(flock);
      this.#drop(flock).then(
        (dropped) => {
          this.#dropping.delete(flock);
          if (dropped) this.dropNext();
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
    if (this.#s.leading.has(flock)) void this.#handovers.handOver(flock, this.#o.cluster.route(flock).active);
    const dropped = await this.#o.gates.exclusive(flock, async () => {
      if (!this.#o.cluster.mayDrop(flock) || !this.#s.herding.has(flock)) return false;
      // Not herding first (durably): from now on this node refuses the flock's bleets.
      await this.#o.clock.setHerding(flock, false);
      this.#s.herding.delete(flock);
      this.#s.announce = true;
      await this.#removeCopy(flock);
      return true;
    });
    if (dropped) {
      this.#s.counters.flocksDropped++;
      this.#o.invalidateFlock(flock);
      this.#o.logger.info({ flock }, 'dropped a flock: every target herder herds it');
    }
    return dropped;
  }

  /** Removes every item of a flock from this node's store. */
  async #removeCopy(flock: number): Promise<number> {
    this.#s.copies.delete(flock);
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
  sweepOne(): void {
    for (let i = 0; i < SWEEP_FLOCKS; i++) this.#sweep(this.#sweepCursor++ % this.#o.cluster.flocks);
  }

  #sweep(flock: number): void {
    const { cluster, selfId } = this.#o;
    if (this.#s.mayStore(flock) || cluster.route(flock).target.includes(selfId)) return;
    void this.#o.gates
      .exclusive(flock, async () => {
        if (this.#s.mayStore(flock)) return 0;
        return this.#removeCopy(flock);
      })
      .then((removed) => {
        if (removed > 0) this.#o.logger.info({ flock, removed }, 'removed the leftover items of a flock this node does not herd');
      })
      .catch(() => {});
  }
}
