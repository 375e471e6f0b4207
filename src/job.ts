/**
 * What a job module sees. Kept free of runtime imports: job modules import
 * this (as `grex/job`) inside every worker thread.
 *
 * A job is the default export of `jobs/<name>.ts|js`:
 *
 *   export default defineJob(async (ctx, data: { by?: number }) => { ... });
 *
 * It runs on the bucket's active node, on the thread that caches the bucket,
 * never at the same time as another job of the same bucket. Its changes are
 * stored (and replicated) only if it returns; if it throws, times out or its
 * changes cannot be stored, nothing it did is kept.
 */

/** Options of `ctx.append`. */
export interface AppendOptions {
  /**
   * After the append the list keeps only its last `keep` values (a positive
   * integer); default: all of them.
   */
  keep?: number;
}

export interface JobContext {
  /** The bucket this job runs against. */
  readonly bucketKey: string;
  /**
   * The decoded value of an item, or undefined when absent. The value is the
   * cached object itself: when you change it, `put` it too (or use `append`
   * for lists), or the change is not stored (and a failed job drops the
   * cached copy).
   */
  get<T = unknown>(itemKey: string): Promise<T | undefined>;
  /** Stores a value (msgpackr-encoded) when the job returns. */
  put(itemKey: string, value: unknown): void;
  /** Deletes an item when the job returns. */
  delete(itemKey: string): void;
  /**
   * Appends values to the end of a list item (an absent item starts as an
   * empty list) and, with `keep`, drops the oldest values beyond that many.
   * Resolves with the list's length afterwards.
   *
   * The cached list is changed in place (a `get` of the item returns it),
   * and only the appended values are stored and replicated when the job
   * returns, not the whole list: for lists that grow by a few values per
   * job this is far cheaper than `get`, `push` and `put`. A `put` or
   * `delete` of the item later in the same job replaces the append.
   *
   *   const length = await ctx.append('orders', [order], { keep: 200 });
   *
   * Fails with GREX_ERR_ITEM_VALUE_INVALID when the item is not a list
   * (nothing is stored then, like any failed job).
   */
  append<T = unknown>(itemKey: string, values: readonly T[], options?: AppendOptions): Promise<number>;
  /** The bucket's item keys, sorted, including this job's puts and deletes. */
  keys(): Promise<string[]>;
  /** An item's stored bytes, or undefined when absent. */
  getBytes(itemKey: string): Promise<Uint8Array | undefined>;
  /** Stores raw bytes (not msgpack) when the job returns. */
  putBytes(itemKey: string, bytes: Uint8Array): void;
}

export type Job<Data = any, Result = unknown> = (ctx: JobContext, data: Data) => Promise<Result> | Result;

/** Types a job's data and result; returns the job unchanged. */
export function defineJob<Data = unknown, Result = unknown>(job: Job<Data, Result>): Job<Data, Result> {
  return job;
}
