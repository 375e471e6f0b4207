/**
 * Bucket generations: the main thread's half of cache coherence.
 *
 * Every change to a bucket that a job thread did not make itself (a failed
 * commit, a direct item write, a replicated write, a lost thread) gives the
 * bucket a new generation; a job that commits gives it the generation that
 * its thread already assumed (`nextGen` of its task). Threads compare their
 * cached copy's generation with the task's and drop it on any difference.
 *
 * A whole flock is invalidated at once (its leadership changed) by raising
 * its epoch: a bucket remembered under an older epoch gets a new generation
 * when next asked.
 *
 * Generations come from one counter that only grows, so a generation is
 * never reused. Remembered generations are bounded: a forgotten bucket gets a
 * fresh generation when next asked, which only costs its threads a miss.
 */
import { LRUCache } from 'lru-cache';

export class BucketGenerations {
  #counter = 0;
  readonly #gens: LRUCache<string, { gen: number; epoch: number }>;

  constructor(maxBuckets = 100_000) {
    this.#gens = new LRUCache<string, { gen: number; epoch: number }>({ max: maxBuckets });
  }

  /** A generation never handed out before. */
  fresh(): number {
    return ++this.#counter;
  }

  current(bucketKey: string, epoch = 0): number {
    const known = this.#gens.get(bucketKey);
    if (known !== undefined && known.epoch === epoch) return known.gen;
    const gen = this.fresh();
    this.#gens.set(bucketKey, { gen, epoch });
    return gen;
  }

  set(bucketKey: string, gen: number, epoch = 0): void {
    // Updated in place when known: a new entry per job would live about as long as the
    // gap between a bucket's jobs, long enough to be promoted, then die in the old generation.
    const known = this.#gens.get(bucketKey);
    if (known === undefined) this.#gens.set(bucketKey, { gen, epoch });
    else {
      known.gen = gen;
      known.epoch = epoch;
    }
  }

  /** The bucket changed behind the threads' backs: every cached copy is stale. */
  bump(bucketKey: string, epoch = 0): void {
    this.set(bucketKey, this.fresh(), epoch);
  }
}
