/**
 * Messages between the main thread and the job worker threads.
 *
 * Everything that crosses is a string, bytes or plain numbers: job data and
 * results are encoded on the side that has them (JSON or msgpack for HTTP,
 * msgpackr "value" encoding for in-process calls), so a value that cannot
 * cross is an error of that request, never a crashed thread. Changed items
 * come back as bytes in their own ArrayBuffers, transferred, not copied.
 */
import type { MessagePort } from 'node:worker_threads';
import type { WireError } from '../errors.js';
import type { ItemEncoding } from '../store/item-record.js';

/** How job data and results travel: JSON text, standard msgpack, or msgpackr with Grex's item types. */
export type PayloadEncoding = 'json' | 'msgpack' | 'value';

export interface JobTask {
  bucketKey: string;
  jobName: string;
  /** JSON text, msgpack bytes, or msgpackr value bytes, per dataEncoding; undefined for no data. */
  data: string | Uint8Array | undefined;
  dataEncoding: PayloadEncoding;
  resultEncoding: PayloadEncoding;
  /** The bucket's generation now: a thread whose cached copy has another one drops it. */
  gen: number;
  /** The generation the bucket gets if this job's changes commit. */
  nextGen: number;
}

/**
 * The name of the built-in job of a warm handover: it reads every item of its
 * bucket into the thread's cache and changes nothing. Not a valid user job
 * name (those never contain ':'), so it cannot be submitted over HTTP.
 */
export const WARM_JOB = ':warm';

/**
 * Hands a thread its line (see job-pool.ts). The task runs as long as the
 * thread serves the line; aborting it terminates the thread.
 */
export interface HoldTask {
  kind: 'hold';
  port: MessagePort;
}

export interface LoadTask {
  kind: 'load';
}

export interface StatsTask {
  kind: 'stats';
}

export type WorkerTask = HoldTask | LoadTask | StatsTask;

export interface ItemChange {
  itemKey: string;
  /** The new bytes, or null for a delete; for an append, only the appended values (a msgpack array). */
  bytes: Uint8Array | null;
  encoding: ItemEncoding;
  /**
   * Set for `ctx.append`: `bytes` are values to add to the end of the list
   * item, which then keeps its last `appendKeep` values (0: all).
   */
  appendKeep?: number;
}

export type JobReply =
  | { ok: true; result: string | Uint8Array; changes: ItemChange[]; threadId: number }
  | { ok: false; error: WireError; threadId: number };

export interface LoadReply {
  threadId: number;
  jobs: string[];
  problems: string[];
}

export interface CacheStats {
  threadId: number;
  hits: number;
  misses: number;
  evictions: number;
  /** Estimated bytes of the decoded objects held (see object-cache.ts). */
  bytes: number;
  maxBytes: number;
  items: number;
  buckets: number;
}

/** Requests a thread sends to the main thread's store on its line. */
export type StoreRequest =
  | { id: number; op: 'get'; bucketKey: string; itemKey: string }
  | { id: number; op: 'keys'; bucketKey: string };

export type StoreReply =
  | { id: number; ok: true; bytes: Uint8Array | null; encoding: ItemEncoding | null }
  | { id: number; ok: true; keys: string[] }
  | { id: number; ok: false; error: WireError };

/** What every worker thread is started with. */
export interface WorkerConfig {
  /** job name -> absolute path of its module */
  jobs: Record<string, string>;
  /** Cache budget of each thread, in bytes. */
  cacheBytes: number;
  /** TypeScript modules compiled in the main thread: file URL -> JavaScript (job-compiler.ts). */
  compiled: Record<string, string>;
  /** job module path -> why it could not be compiled */
  compileProblems: Record<string, string>;
}
