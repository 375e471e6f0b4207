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

/**
 * Types a job's data and result; returns the job unchanged.
 *
 *   export default defineJob(async (ctx, data: { by?: number } | null) => ...);
 *   export default defineJob<AddData, Added>(async (ctx, data) => ...);
 */
export function defineJob<Data = unknown, Result = unknown>(job: Job<Data, Result>): Job<Data, Result> {
  return job;
}

/**
 * The jobs an app submits to, by name, for typed `submit` calls. Empty here;
 * an app adds its jobs by declaration merging:
 *
 *   import type customerAdd from './jobs/customer-add.ts';
 *   declare module 'grex/job' {
 *     interface GrexJobs { 'customer-add': typeof customerAdd }
 *   }
 *
 * Then `node.submit(bucketKey, 'customer-add', data)` checks `data` and types
 * the result (and `GrexClient.submit` types it as it arrives over JSON).
 * Names not listed stay untyped.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface GrexJobs {}

/** The names in GrexJobs. */
export type JobName = keyof GrexJobs & string;

/** The data a job takes. */
export type JobData<J> = J extends Job<infer Data, any> ? Data : never;

/** What a job resolves with. */
export type JobResult<J> = J extends Job<any, infer Result> ? Awaited<Result> : never;

/** The data argument of a typed submit: optional when the job accepts undefined or null. */
export type JobDataArgs<J> = undefined extends JobData<J> ? [data?: JobData<J>] : null extends JobData<J> ? [data?: JobData<J>] : [data: JobData<J>];

/** A job name argument that is not in GrexJobs (those take the typed overload). */
export type UntypedJobName<N extends string> = N extends JobName ? never : N;

/**
 * A value as it arrives after JSON.stringify and JSON.parse: what HTTP
 * clients get back. Dates (anything with toJSON) become what toJSON returns,
 * Maps and Sets empty objects; functions are left out; a top-level undefined
 * becomes null.
 */
export type Jsonified<T> = 0 extends 1 & T
  ? any
  : unknown extends T
    ? unknown
    : T extends { toJSON(...args: any[]): infer J }
      ? Jsonified<J>
      : T extends string | number | boolean | null
        ? T
        : T extends undefined
          ? null
          : T extends bigint | symbol | ((...args: any[]) => unknown)
            ? never
            : T extends ReadonlyMap<unknown, unknown> | ReadonlySet<unknown>
              ? Record<string, never>
              : T extends readonly unknown[]
                ? { [K in keyof T]: Jsonified<T[K]> }
                : T extends object
                  ? { [K in keyof T as K extends symbol ? never : T[K] extends (...args: any[]) => unknown ? never : K]: Jsonified<Exclude<T[K], undefined>> }
                  : never;
