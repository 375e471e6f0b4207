/**
 * Cache counters of the whole node, from the job threads' own counters.
 *
 * Each job thread counts hits, misses and evictions of its object cache
 * (object-cache.ts). The main thread asks for them only when someone looks
 * (a scrape of /metrics, the dashboard), one small task per thread, so the
 * job path carries nothing extra. A thread replaced after a timeout starts
 * again from zero: its last known counts are kept, so node totals never go
 * backwards (Prometheus counters must not).
 */
import type { CacheStats } from '../workers/protocol.js';

/** A node's totals have the shape of one thread's counts. */
export type CacheTotals = Omit<CacheStats, 'threadId' | 'buckets'>;

const ZERO: CacheTotals = { hits: 0, misses: 0, evictions: 0, bytes: 0, maxBytes: 0, items: 0 };

/** Sums per-thread counters into totals that only grow. Pure. */
export class CacheTotalsTracker {
  /** Counts of threads that are gone. */
  readonly #retired = { hits: 0, misses: 0, evictions: 0 };
  /** Latest counts of each live thread, by thread id. */
  #threads = new Map<number, CacheStats>();

  /** Takes the counters of every live thread; threads missing from the list are gone. */
  update(stats: readonly CacheStats[]): CacheTotals {
    const next = new Map<number, CacheStats>();
    for (const s of stats) next.set(s.threadId, s);
    for (const [threadId, old] of this.#threads) {
      if (next.has(threadId)) continue;
      this.#retired.hits += old.hits;
      this.#retired.misses += old.misses;
      this.#retired.evictions += old.evictions;
    }
    this.#threads = next;
    return this.totals;
  }

  get totals(): CacheTotals {
    const totals = { ...ZERO, ...this.#retired };
    for (const s of this.#threads.values()) {
      totals.hits += s.hits;
      totals.misses += s.misses;
      totals.evictions += s.evictions;
      totals.bytes += s.bytes;
      totals.maxBytes += s.maxBytes;
      totals.items += s.items;
    }
    return totals;
  }
}

/**
 * Asks the threads for their counters at most once at a time, and gives up
 * after `deadlineMs` (a thread busy with a long job answers late): then the
 * last known totals are returned.
 */
export class CachePoller {
  readonly #poll: () => Promise<CacheStats[]>;
  readonly #deadlineMs: number;
  readonly #tracker = new CacheTotalsTracker();
  #inFlight: Promise<CacheTotals> | null = null;

  constructor(poll: () => Promise<CacheStats[]>, deadlineMs = 250) {
    this.#poll = poll;
    this.#deadlineMs = deadlineMs;
  }

  totals(): Promise<CacheTotals> {
    this.#inFlight ??= this.#poll()
      .then((stats) => this.#tracker.update(stats))
      .catch(() => this.#tracker.totals)
      .finally(() => (this.#inFlight = null));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<CacheTotals>((resolve) => {
      timer = setTimeout(() => resolve(this.#tracker.totals), this.#deadlineMs);
    });
    return Promise.race([this.#inFlight, late]).finally(() => clearTimeout(timer));
  }
}
