/**
 * Per-bucket FIFO: at most one task of a bucket runs at a time, tasks of
 * different buckets run concurrently, and both the per-bucket backlog and the
 * node-wide total are bounded.
 *
 * States of a bucket: absent (nothing queued or running) -> running (one
 * task, maybe a backlog) -> absent when its backlog is empty. Invariant:
 * `size` = running tasks + backlogged tasks <= maxTotal, and every backlog
 * holds <= maxPerBucket tasks.
 */

export interface BucketQueueLimits {
  /** Tasks that may wait behind a bucket's running one. */
  maxPerBucket: number;
  /** Tasks (running and waiting) in the whole queue. */
  maxTotal: number;
}

export type EnqueueResult = 'accepted' | 'bucket-full' | 'node-full';

/** A unit of work; it must not reject (the scheduler settles its own promise). */
export type BucketTask = () => Promise<void>;

export class BucketQueue {
  readonly limits: BucketQueueLimits;
  readonly #backlogs = new Map<string, BucketTask[]>();
  #size = 0;
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
    return this.#backlogs.size;
  }

  /** Tasks waiting behind a bucket's running task. */
  backlog(bucketKey: string): number {
    return this.#backlogs.get(bucketKey)?.length ?? 0;
  }

  push(bucketKey: string, task: BucketTask): EnqueueResult {
    if (this.#size >= this.limits.maxTotal) return 'node-full';
    const backlog = this.#backlogs.get(bucketKey);
    if (backlog === undefined) {
      this.#backlogs.set(bucketKey, []);
      this.#size++;
      this.#run(bucketKey, task);
      return 'accepted';
    }
    if (backlog.length >= this.limits.maxPerBucket) return 'bucket-full';
    backlog.push(task);
    this.#size++;
    return 'accepted';
  }

  #run(bucketKey: string, task: BucketTask): void {
    task().finally(() => {
      this.#size--;
      const backlog = this.#backlogs.get(bucketKey)!;
      const next = backlog.shift();
      if (next !== undefined) this.#run(bucketKey, next);
      else this.#backlogs.delete(bucketKey);
      if (this.#size === 0) this.#wakeIdle();
    });
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
