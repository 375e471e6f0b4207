/**
 * The job path on the node that runs a bucket's jobs:
 *
 *   submit -> per-bucket FIFO -> the bucket's thread (cache, job) -> commit -> answer
 *
 * Commit versions the changed items (flock clock), checks their size and
 * makes them durable through the store before the answer is given. A job that
 * fails, times out or cannot commit leaves nothing stored and gives its
 * bucket a new generation, so no thread keeps objects the job touched.
 * Direct item writes (HTTP PUT/DELETE) take the same queue and commit path.
 */
import { itemCodec, ownedBytes } from '../codec.js';
import { fromWire, GrexError } from '../errors.js';
import { assertBucketKey, assertItemKey, assertJobName, flockOf, fnv1a32 } from '../keys.js';
import { encodeListAppend } from '../store/item-delta.js';
import type { ItemEncoding, ItemRecord } from '../store/item-record.js';
import type { ItemStore } from '../store/item-store.js';
import { compareVersions, formatVersion, NO_VERSION, type Version } from '../store/version.js';
import { JobTimedOutError, ThreadLostError, type JobPool } from '../workers/job-pool.js';
import { WARM_JOB, type ItemChange, type JobReply, type PayloadEncoding } from '../workers/protocol.js';
import { LRUCache } from 'lru-cache';
import { BucketGenerations } from './bucket-generations.js';
import { BucketQueue, type EnqueueResult } from './bucket-queue.js';
import type { FlockClock } from './flock-clock.js';

export interface JobRequest {
  bucketKey: string;
  jobName: string;
  /** JSON text, msgpack bytes or msgpackr value bytes, per dataEncoding. */
  data: string | Uint8Array | undefined;
  dataEncoding: PayloadEncoding;
  resultEncoding: PayloadEncoding;
}

export interface JobOutcome {
  /** The encoded result, per the request's resultEncoding. */
  result: string | Uint8Array;
  /** Versions given to the job's changes, by itemKey. */
  versions: Record<string, Version>;
  threadId: number;
}

export interface ItemWrite {
  bucketKey: string;
  itemKey: string;
  /** New bytes, or null to delete. */
  bytes: Uint8Array | null;
  encoding: ItemEncoding;
  /** Only write if the item's current version is this one (NO_VERSION: only if absent). */
  ifMatch?: Version | undefined;
}

export interface SchedulerOptions {
  pool: JobPool;
  store: ItemStore;
  clock: FlockClock;
  flocks: number;
  /** Names of the loaded jobs. */
  jobs: ReadonlySet<string>;
  jobTimeoutMs: number;
  maxQueuedJobs: number;
  maxQueuedPerBucket: number;
  itemLimitBytes: number;
  /**
   * Makes a bucket's versioned records durable; by default the local store.
   * A cluster node replicates here and resolves at the write quorum.
   */
  commit?: (flock: number, bucketKey: string, records: ItemRecord[]) => Promise<void>;
  /** The leadership term a flock is written in now (throws if this node may not write it). Default 1. */
  termOf?: (flock: number) => number;
}

/** Seconds a client should wait before retrying an overloaded node. */
export const OVERLOAD_RETRY_AFTER_SECONDS = 1;

/**
 * Buckets whose generation and flock the scheduler remembers (each ~150 bytes in two LRUs).
 * A forgotten bucket costs its thread one cache miss and is not warmed at a handover; more
 * would grow the main thread's memory with every bucket ever used, up to the bound.
 */
const BUCKETS_REMEMBERED = 16_384;

export class Scheduler {
  readonly #pool: JobPool;
  readonly #store: ItemStore;
  readonly #clock: FlockClock;
  readonly #flocks: number;
  readonly #jobs: ReadonlySet<string>;
  /** Recently used buckets -> their flock (bounded), for warm handovers. */
  readonly #hot = new LRUCache<string, number>({ max: BUCKETS_REMEMBERED });
  readonly #jobTimeoutMs: number;
  readonly #itemLimitBytes: number;
  readonly #queue: BucketQueue;
  readonly #gens = new BucketGenerations(BUCKETS_REMEMBERED);
  readonly #persist: (flock: number, bucketKey: string, records: ItemRecord[]) => Promise<void>;
  readonly #termOf: (flock: number) => number;
  /** Raised when a flock's cached objects must all go (its leadership changed). */
  readonly #epochs = new Map<number, number>();
  #stopping = false;

  constructor(options: SchedulerOptions) {
    this.#pool = options.pool;
    this.#store = options.store;
    this.#clock = options.clock;
    this.#flocks = options.flocks;
    this.#jobs = options.jobs;
    this.#jobTimeoutMs = options.jobTimeoutMs;
    this.#itemLimitBytes = options.itemLimitBytes;
    this.#queue = new BucketQueue({ maxPerBucket: options.maxQueuedPerBucket, maxTotal: options.maxQueuedJobs });
    this.#persist = options.commit ?? (async (flock, _bucketKey, records) => void (await this.#store.commit(flock, records)));
    this.#termOf = options.termOf ?? (() => 1);
  }

  #epoch(bucketKey: string): number {
    return this.#epochs.get(this.flockOf(bucketKey)) ?? 0;
  }

  /** The bucket changed behind the job threads' backs (a replicated write): their copies are stale. */
  invalidate(bucketKey: string): void {
    this.#gens.bump(bucketKey, this.#epoch(bucketKey));
  }

  /** Every bucket of the flock changed behind the threads' backs (leadership moved). */
  invalidateFlock(flock: number): void {
    this.#epochs.set(flock, (this.#epochs.get(flock) ?? 0) + 1);
  }

  /** Jobs running or waiting. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Buckets with a job (or write) running or waiting. */
  get queuedBuckets(): number {
    return this.#queue.activeBuckets;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  flockOf(bucketKey: string): number {
    return flockOf(bucketKey, this.#flocks);
  }

  /** Runs a job against a bucket; resolves once its changes are durable. */
  submit(request: JobRequest): Promise<JobOutcome> {
    assertBucketKey(request.bucketKey);
    assertJobName(request.jobName);
    if (!this.#jobs.has(request.jobName)) {
      return Promise.reject(new GrexError('GREX_ERR_JOB_NOT_FOUND', `no job named ${request.jobName}`, { job: request.jobName }));
    }
    this.#hot.set(request.bucketKey, this.flockOf(request.bucketKey));
    return this.#enqueue(request.bucketKey, () => this.#runJob(request, false));
  }

  /** Buckets of a flock that ran jobs here lately, most recent first (a warm handover sends them). */
  hotBuckets(flock: number): string[] {
    const out: string[] = [];
    for (const [bucketKey, f] of this.#hot.entries()) if (f === flock) out.push(bucketKey);
    return out;
  }

  /** Loads a bucket's items into its thread's cache, in the bucket's turn (a warm handover). */
  warm(bucketKey: string): Promise<JobOutcome> {
    assertBucketKey(bucketKey);
    return this.#enqueue(bucketKey, () => this.#runJob({ bucketKey, jobName: WARM_JOB, data: undefined, dataEncoding: 'json', resultEncoding: 'json' }, false));
  }

  /** Writes or deletes one item directly, in the bucket's turn; resolves with its new version. */
  writeItem(write: ItemWrite): Promise<Version> {
    assertBucketKey(write.bucketKey);
    assertItemKey(write.itemKey);
    return this.#enqueue(write.bucketKey, async () => {
      const flock = this.flockOf(write.bucketKey);
      // The term the item is read under is the term it is written under (see #runJob).
      const term = this.#termOf(flock);
      try {
        // Its header is enough (a list with appends pending is not composed for this).
        const current = await this.#store.head(flock, write.bucketKey, write.itemKey);
        const live = current !== undefined && !current.tombstone;
        if (write.ifMatch !== undefined) {
          const version = live ? current.version : NO_VERSION;
          if (compareVersions(version, write.ifMatch) !== 0) {
            throw new GrexError(
              'GREX_ERR_VERSION_CONFLICT',
              `item ${write.itemKey} is at version ${formatVersion(version)}, not ${formatVersion(write.ifMatch)}`,
              { version: formatVersion(version) },
            );
          }
        }
        if (write.bytes === null && !live) {
          throw new GrexError('GREX_ERR_ITEM_NOT_FOUND', `bucket has no item ${JSON.stringify(write.itemKey)}`);
        }
        const [version] = await this.#commit(flock, write.bucketKey, [{ itemKey: write.itemKey, bytes: write.bytes, encoding: write.encoding }], term);
        return version!;
      } finally {
        this.invalidate(write.bucketKey);
      }
    });
  }

  /** Runs `work` in the bucket's turn: never alongside a job or a write of the same bucket. */
  exclusive<T>(bucketKey: string, work: () => Promise<T>): Promise<T> {
    return this.#enqueue(bucketKey, work);
  }

  #enqueue<T>(bucketKey: string, work: () => Promise<T>): Promise<T> {
    if (this.#stopping) return Promise.reject(new GrexError('GREX_ERR_SHUTTING_DOWN', 'the node is stopping'));
    return new Promise<T>((resolve, reject) => {
      const outcome: EnqueueResult = this.#queue.push(bucketKey, () => work().then(resolve, reject));
      if (outcome !== 'accepted') {
        const scope = outcome === 'bucket-full' ? 'bucket' : 'node';
        reject(
          new GrexError(
            'GREX_ERR_OVERLOADED',
            scope === 'bucket'
              ? `bucket ${bucketKey} already has ${this.#queue.limits.maxPerBucket} jobs waiting`
              : `node has ${this.#queue.limits.maxTotal} jobs queued`,
            { scope, retryAfterSeconds: OVERLOAD_RETRY_AFTER_SECONDS },
          ),
        );
      }
    });
  }

  async #runJob(request: JobRequest, isRetry: boolean): Promise<JobOutcome> {
    const { bucketKey } = request;
    const epoch = this.#epoch(bucketKey);
    // The job reads under this term and its changes are versioned in it: if the node steps
    // down and claims the flock again while the job runs (merging writes the job did not
    // see), the commit is refused as stale instead of overwriting them.
    const term = this.#termOf(this.flockOf(bucketKey));
    const gen = this.#gens.current(bucketKey, epoch);
    const nextGen = this.#gens.fresh();
    const slot = this.#pool.slotOf(fnv1a32(bucketKey));
    // A thread that just replaced a stuck one is still importing jobs: not on this job's clock.
    const starting = this.#pool.ready(slot);
    if (starting !== undefined) await starting;
    let reply: JobReply;
    try {
      // Spelled out, not `{ ...request, gen, nextGen }`: on Node 20 a spread followed by new
      // properties makes a new hidden class every time, ~1 KB of old-generation garbage per job.
      const task = {
        bucketKey,
        jobName: request.jobName,
        data: request.data,
        dataEncoding: request.dataEncoding,
        resultEncoding: request.resultEncoding,
        gen,
        nextGen,
      };
      reply = await this.#pool.runJob(task, slot, this.#jobTimeoutMs);
    } catch (err) {
      this.invalidate(bucketKey);
      if (err instanceof JobTimedOutError) {
        throw new GrexError('GREX_ERR_JOB_TIMEOUT', `job ${request.jobName} ran longer than ${this.#jobTimeoutMs} ms`, {
          job: request.jobName,
          timeoutMs: this.#jobTimeoutMs,
        });
      }
      // Its thread was replaced because another job on it timed out. This job never
      // finished and nothing of it was stored, so it is safe to run it once more.
      if (err instanceof ThreadLostError && !isRetry) return this.#runJob(request, true);
      throw new GrexError('GREX_ERR_INTERNAL', `job ${request.jobName} lost its thread: ${(err as Error).message}`);
    }
    if (!reply.ok) {
      this.invalidate(bucketKey);
      throw fromWire(reply.error);
    }
    const versions: Record<string, Version> = {};
    if (reply.changes.length > 0) {
      try {
        const assigned = await this.#commit(this.flockOf(bucketKey), bucketKey, reply.changes, term);
        reply.changes.forEach((change, i) => (versions[change.itemKey] = assigned[i]!));
      } catch (err) {
        this.invalidate(bucketKey);
        throw err;
      }
      // The flock's leadership may have moved while the job ran: then its copy is not trusted.
      if (this.#epoch(bucketKey) === epoch) this.#gens.set(bucketKey, nextGen, epoch);
      else this.invalidate(bucketKey);
    }
    return { result: reply.result, versions, threadId: reply.threadId };
  }

  /**
   * Versions and stores a bucket's changes; resolves when they are durable.
   * An append is stored as a delta on the item's current version: only the
   * appended values are logged and replicated.
   */
  async #commit(flock: number, bucketKey: string, changes: readonly ItemChange[], term: number): Promise<Version[]> {
    const bases: (Version | null)[] = [];
    for (const change of changes) {
      let size = change.bytes?.byteLength ?? 0;
      let base: Version | null = null;
      if (change.appendKeep !== undefined) {
        // In the bucket's turn, so no other write of this item can come between.
        const head = await this.#store.head(flock, bucketKey, change.itemKey);
        base = head?.version ?? NO_VERSION;
        // A list without `keep` grows: count what it holds (an upper bound).
        size = change.appendKeep === 0 ? (head?.size ?? 0) + size : 0;
      }
      bases.push(base);
      if (size > this.#itemLimitBytes) {
        throw new GrexError(
          'GREX_ERR_ITEM_TOO_LARGE',
          `item ${JSON.stringify(change.itemKey)} is ${size} bytes; the limit is ${this.#itemLimitBytes}`,
          { itemKey: change.itemKey, bytes: size, limit: this.#itemLimitBytes },
        );
      }
    }
    const versions = await this.#clock.next(flock, changes.length, term);
    const records: ItemRecord[] = changes.map((change, i) => {
      const base = bases[i]!;
      if (base !== null) {
        return {
          bucketKey,
          itemKey: change.itemKey,
          version: versions[i]!,
          tombstone: false,
          encoding: 'msgpack',
          payload: encodeListAppend({ base, keep: change.appendKeep!, values: change.bytes! }),
          delta: true,
        };
      }
      return {
        bucketKey,
        itemKey: change.itemKey,
        version: versions[i]!,
        tombstone: change.bytes === null,
        encoding: change.encoding,
        payload: change.bytes ?? new Uint8Array(0),
      };
    });
    await this.#persist(flock, bucketKey, records);
    return versions;
  }

  /** Refuses new work and resolves when every queued and running job has finished. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#queue.idle();
  }
}

/** Encodes in-process job data for a worker thread; values msgpackr cannot encode are refused. */
export function encodeJobValue(data: unknown): Uint8Array | undefined {
  if (data === undefined) return undefined;
  try {
    return ownedBytes(itemCodec.pack(data));
  } catch (err) {
    throw new GrexError('GREX_ERR_JOB_DATA_INVALID', `job data cannot be encoded: ${(err as Error).message}`);
  }
}
