/**
 * A running count of the item records a backend holds and their bytes, for
 * the store gauges of /metrics, without a walk of the data at each scrape.
 *
 * What was on disk at start is counted once, flock by flock, in the
 * background (`census`); from then on every write and removal changes the
 * count. The two must not count a record twice or miss it, so per flock:
 *
 *   uncounted --census reaches it--> counting --done--> counted
 *
 * A change to an uncounted flock is ignored (its census will see it), to a
 * counted flock applied at once, and a change during the flock's own census
 * makes the census count that flock again (a busy flock is taken as counted
 * after a few tries; the count may then be off by the writes that raced it).
 * Memory: one entry per flock, never per item.
 */

export interface StoreUsage {
  items: number;
  bytes: number;
  /** False until every flock on disk at start has been counted. */
  counted: boolean;
}

const CENSUS_TRIES = 3;

export class UsageTally {
  /** Flocks found on disk at start and not counted yet; null before the census lists them. */
  #uncounted: Set<number> | null = null;
  /** Changes that arrive while the census lists the flocks, by flock. */
  #early: Map<number, { items: number; bytes: number }> | null = null;
  #counting: number | null = null;
  #raced = false;
  #items = 0;
  #bytes = 0;
  #done = false;

  /** A record was added (`items` 1), replaced (0) or removed (-1); `bytes` is the change in size. */
  change(flock: number, items: number, bytes: number): void {
    if (this.#early !== null) {
      const early = this.#early.get(flock) ?? { items: 0, bytes: 0 };
      this.#early.set(flock, { items: early.items + items, bytes: early.bytes + bytes });
    } else if (this.#uncounted?.has(flock) === true) {
      if (flock === this.#counting) this.#raced = true;
    } else {
      this.#items += items;
      this.#bytes += bytes;
    }
  }

  /**
   * Lists the flocks on disk, then counts each with `countFlock`, one at a
   * time. Stops early (leaving `counted` false) when `stopped` says so.
   */
  async census(
    listFlocks: () => Promise<number[]>,
    countFlock: (flock: number) => Promise<{ items: number; bytes: number }>,
    stopped: () => boolean,
  ): Promise<void> {
    this.#early = new Map();
    let flocks: number[] = [];
    try {
      flocks = await listFlocks();
    } finally {
      // Flocks created while listing hold only records written since: their changes count.
      const early = this.#early;
      this.#early = null;
      this.#uncounted = new Set(flocks);
      for (const [flock, change] of early) this.change(flock, change.items, change.bytes);
    }
    for (const flock of flocks) {
      for (let attempt = 1; ; attempt++) {
        if (stopped()) return;
        this.#counting = flock;
        this.#raced = false;
        const found = await countFlock(flock);
        if (this.#raced && attempt < CENSUS_TRIES) continue;
        this.#counting = null;
        this.#uncounted.delete(flock);
        this.#items += found.items;
        this.#bytes += found.bytes;
        break;
      }
    }
    this.#done = !stopped();
  }

  get usage(): StoreUsage {
    return { items: this.#items, bytes: this.#bytes, counted: this.#done };
  }
}
