/**
 * Per-bucket FIFO: at most one task of a bucket runs at a time, tasks of
 * different buckets run concurrently, and both the per-bucket backlog and the
 * node-wide total are bounded.
 *
 * States of a bucket: absent or idle (nothing queued or running) -> running
 * (one task, maybe a backlog) -> idle when its backlog is empty. Invariant:
 * `size` = running tasks + backlogged tasks <= maxTotal, and every backlog
 * holds <= maxPerBucket tasks.
 */
import { KeptMap } from '../kept-map.js';

export interface BucketQueueLimits {
  /** Tasks that may wait behind a bucket's running one. */
  maxPerBucket: number;
  /** Tasks (running and waiting) in the whole queue. */
  maxTotal: number;
}

export type EnqueueResult = 'accepted' | 'bucket-full' | 'node-full';

/** A unit of work; it must not reject (the scheduler settles its own promise). */
export type BucketTask = () => Promise<void>;

interface Bucket {
  running: boolean;
  /** Tasks waiting behind the running one. */
  backlog: BucketTask[];
}

export class BucketQueue {
  readonly limits: BucketQueueLimits;
  /** Buckets with a running task, and idle ones kept for reuse (kept-map.ts: no Map table to regrow every job). */
  readonly #buckets = new KeptMap<string, Bucket>({ isIdle: (bucket) => !bucket.running, make: () => ({ running: false, backlog: [] }) });
  #size = 0;
  #running = 0;
  #idleWaiters: (() => void)[] = [];

  constructor(limits: BucketQueueLimits) {
    if (!(limits.maxPerBucket >= 0) || !(limits.maxTotal >= 1)) throw new TypeError('queue limits must be positive');
    this.limits = limits;
  }

  /** Tasks running or waiting. */
  get size(): number {
    return this.#size;
  }

  /** Buckets with a running task. */
  get activeBuckets(): number {
    return this.#running;
  }

  /** Tasks waiting behind a bucket's running task. */
  backlog(bucketKey: string): number {
    return this.#buckets.get(bucketKey)?.backlog.length ?? 0;
  }

  push(bucketKey: string, task: BucketTask): EnqueueResult {
    if (this.#size >= this.limits.maxTotal) return 'node-full';
    const bucket = this.#buckets.use(bucketKey);
    if (!bucket.running) {
      bucket.running = true;
      this.#running++;
      this.#size++;
      this.#run(bucket, task);
      return 'accepted';
    }
    if (bucket.backlog.length >= this.limits.maxPerBucket) return 'bucket-full';
    bucket.backlog.push(task);
    this.#size++;
    return 'accepted';
  }

  #run(bucket: Bucket, task: BucketTask): void {
    task().finally(() => {
      this.#size--;
      const next = bucket.backlog.shift();
      if (next !== undefined) this.#run(bucket, next);
      else {
        bucket.running = false;
        this.#running--;
        this.#buckets.wentIdle();
      }
      if (this.#size === 0) this.#wakeIdle();
    });
  }

  /** Buckets held, running and idle (for tests: idle ones are bounded). */
  get heldBuckets(): number {
    return this.#buckets.size;
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves when nothing is running or waiting. */
  idle(): Promise<void> {
    if (this.#size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }
}
