/**
 * Handing a led flock over: when another node becomes the flock's first live
 * herder (or this node drops the flock or shuts down), this node steps down
 * and, if the next active node is known and reachable, sends it the flock's
 * hot buckets (a warm handover), which makes it claim the flock at once and
 * load them before the first jobs arrive. Both ends are here: a handover
 * whose next node the view does not name yet waits for it (HANDOVER_WAIT_MS
 * at most), and one received before this node's view shows it active is kept
 * for the tick to claim.
 */
import type { GrexError } from '../errors.js';
import type { FlockClaims } from './flock-claim.js';
import type { LeadershipOptions, LeadershipState } from './leadership-state.js';

/** How long a node that stepped down waits for its view to name the next active node, to hand it over warm. */
const HANDOVER_WAIT_MS = 10_000;
const WARM_BUCKETS = 1000;

export class FlockHandovers {
  readonly #s: LeadershipState;
  readonly #o: LeadershipOptions;
  readonly #claims: FlockClaims;
  /**
   * Hot buckets handed over to this node that it has not loaded yet, by flock: its view did
   * not show it active yet, or its claim failed (the old active node's view can lag behind
   * this node's and refuse it). Kept by onWarm for HANDOVER_WAIT_MS; the tick claims and
   * loads them (onWarm again), and onWarm drops them once the flock is led.
   */
  readonly pendingWarm = new Map<number, { buckets: string[]; until: number }>();
  /**
   * Flocks this node stepped down from before its view named the next active node (that
   * node's announcement that it herds the flock had not arrived): the warm handover is sent
   * when the view names it, or dropped after HANDOVER_WAIT_MS.
   */
  readonly #pendingHandover = new Map<number, number>();

  constructor(state: LeadershipState, claims: FlockClaims) {
    this.#s = state;
    this.#o = state.o;
    this.#claims = claims;
  }

  /**
   * Another node is now the flock's first live herder: step down. When it took
   * over by plan (this node is alive and well), tell it which buckets were hot,
   * so it loads them before the first jobs arrive.
   */
  handOver(flock: number, next: string | null): Promise<void> {
    this.#s.stepDown(flock, `${next ?? 'no node'} is now the first live herder`);
    if (next === null || !this.#o.cluster.isLive(next) || this.#o.cluster.linkTo(next) === undefined) {
      // Not known yet (say, the new herder's announcement is on its way): hand over once it is.
      if (!this.#pendingHandover.has(flock)) this.#pendingHandover.set(flock, Date.now() + HANDOVER_WAIT_MS);
      return Promise.resolve();
    }
    return this.#sendWarm(flock, next);
  }

  /** Pending handovers whose next active node the view now names. */
  retryHandovers(active: readonly (string | null)[]): void {
    const { cluster, selfId } = this.#o;
    for (const [flock, until] of this.#pendingHandover) {
      const next = active[flock] ?? null;
      if (next === selfId || this.#s.leading.has(flock) || Date.now() > until) {
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
    const flocks = [...this.#s.leading.keys()];
    await Promise.all(flocks.map((flock) => this.handOver(flock, this.#o.cluster.route(flock).active)));
    if (flocks.length > 0) this.#o.logger.info({ flocks: flocks.length }, 'handed over every led flock');
  }

  /** Warm handover: this node is (about to be) the flock's active node; load its hot buckets. */
  async onWarm(flock: number, buckets: readonly string[]): Promise<number> {
    if (this.#o.cluster.route(flock).active !== this.#o.selfId) {
      // This node's view has not caught up with the move yet: warm up once it has.
      this.#keepWarm(flock, buckets);
      return 0;
    }
    try {
      await this.#claims.ensureLeading(flock);
    } catch (err) {
      // Not lost with the claim: the tick claims again and loads them.
      this.#keepWarm(flock, buckets);
      throw err;
    }
    this.pendingWarm.delete(flock);
    if (this.#o.warmBuckets === undefined || buckets.length === 0) return 0;
    const loaded = await this.#o.warmBuckets(buckets);
    this.#s.counters.warmedBuckets += loaded;
    return loaded;
  }

  /** Keeps a handover's hot buckets for the tick, until HANDOVER_WAIT_MS after the first time. */
  #keepWarm(flock: number, buckets: readonly string[]): void {
    const until = this.pendingWarm.get(flock)?.until ?? Date.now() + HANDOVER_WAIT_MS;
    this.pendingWarm.set(flock, { buckets: [...buckets], until });
  }

  /** Drops kept hot buckets too old to matter (the flock was claimed some other way, or never moved here). */
  expireWarm(now: number): void {
    for (const [flock, warm] of this.pendingWarm) if (now > warm.until) this.pendingWarm.delete(flock);
  }
}
