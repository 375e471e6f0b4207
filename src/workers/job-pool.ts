/**
 * The main thread's side of the job threads: a piscina pool with a fixed
 * number of threads, each bucket pinned to one of them (bucket-balancer.ts),
 * and the store channel through which threads read items they do not cache.
 */
import { availableParallelism } from 'node:os';
import type { MessagePort } from 'node:worker_threads';
import { Piscina, queueOptionsSymbol } from 'piscina';
import { ownedBytes } from '../codec.js';
import { asGrexError, GrexError } from '../errors.js';
import type { ItemEncoding } from '../store/item-record.js';
import { createSlotBalancer, slotOf, type SlotTaskOptions, type ThreadSlots } from './bucket-balancer.js';
import type {
  CacheStats,
  JobReply,
  JobTask,
  LoadReply,
  StorePortHello,
  StoreReply,
  StoreRequest,
  WorkerConfig,
  WorkerTask,
} from './protocol.js';

/** How job threads read the committed state of a bucket. */
export interface StoreReader {
  get(bucketKey: string, itemKey: string): Promise<{ payload: Uint8Array; encoding: ItemEncoding } | undefined>;
  keys(bucketKey: string): Promise<string[]>;
}

export interface JobPoolOptions {
  /** Number of job threads (default: the available cores). */
  threads?: number;
  /** job name -> absolute module path */
  jobs: Record<string, string>;
  /** Cache budget of the whole pool in bytes, split evenly between threads. */
  cacheBytes: number;
  store: StoreReader;
  /** Called with errors of the store channel that have no request to fail. */
  onError?: (err: Error) => void;
}

/** The thread running a task was terminated (another job on it timed out): the task never finished. */
export class ThreadLostError extends Error {
  constructor(cause: unknown) {
    super(`job thread lost: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'ThreadLostError';
  }
}

const WORKER_FILE = new URL('./job-worker.js', import.meta.url);

export class JobPool {
  readonly threads: number;
  readonly #piscina: Piscina<WorkerTask, unknown>;
  readonly #slots: ThreadSlots;
  readonly #store: StoreReader;
  readonly #ports = new Map<number, MessagePort>();
  readonly #onError: (err: Error) => void;
  /** Slots whose thread was replaced and may still be starting (importing every job). */
  readonly #cold = new Map<number, Promise<void> | null>();

  private constructor(options: JobPoolOptions) {
    this.threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(this.threads) || this.threads < 1) throw new TypeError('options.threads must be a positive integer');
    this.#store = options.store;
    this.#onError = options.onError ?? (() => {});
    const { balancer, slots } = createSlotBalancer(this.threads, queueOptionsSymbol);
    this.#slots = slots;
    const workerData: WorkerConfig = { jobs: options.jobs, cacheBytes: Math.floor(options.cacheBytes / this.threads) };
    this.#piscina = new Piscina({
      filename: WORKER_FILE.href,
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: Infinity,
      // The scheduler bounds what is queued; piscina only holds what is in flight.
      maxQueue: Infinity,
      concurrentTasksPerWorker: 1 << 20,
      workerData,
      loadBalancer: balancer as never,
    });
    this.#piscina.on('message', (message: unknown) => this.#onWorkerMessage(message));
    // A worker that dies fails its tasks (handled per task); nothing else to do here.
    this.#piscina.on('error', (err: Error) => this.#onError(err));
  }

  /** Starts the threads and imports every job in each; fails with GREX_ERR_JOB_LOAD if any job does not load. */
  static async start(options: JobPoolOptions): Promise<JobPool> {
    const pool = new JobPool(options);
    try {
      const replies = await Promise.all(
        Array.from({ length: pool.threads }, (_, slot) => pool.#runOnSlot({ kind: 'load' }, slot) as Promise<LoadReply>),
      );
      const problems = [...new Set(replies.flatMap((r) => r.problems))];
      if (problems.length > 0) {
        throw new GrexError('GREX_ERR_JOB_LOAD', `jobs failed to load: ${problems.join('; ')}`, { problems });
      }
    } catch (err) {
      await pool.close();
      throw err instanceof GrexError ? err : new GrexError('GREX_ERR_JOB_LOAD', `job threads failed to start: ${(err as Error).message}`);
    }
    return pool;
  }

  #onWorkerMessage(message: unknown): void {
    const hello = message as Partial<StorePortHello> | null;
    if (hello === null || typeof hello !== 'object' || hello.grexStorePort === undefined) return;
    const port = hello.grexStorePort as unknown as MessagePort;
    const threadId = hello.threadId ?? -1;
    this.#ports.get(threadId)?.close();
    this.#ports.set(threadId, port);
    port.on('message', (request: StoreRequest) => void this.#serveStore(port, request));
    port.on('close', () => {
      if (this.#ports.get(threadId) === port) this.#ports.delete(threadId);
    });
    // The main thread must be free to exit while threads idle.
    port.unref();
  }

  async #serveStore(port: MessagePort, request: StoreRequest): Promise<void> {
    let reply: StoreReply;
    const transfer: ArrayBuffer[] = [];
    try {
      if (request.op === 'get') {
        const item = await this.#store.get(request.bucketKey, request.itemKey);
        // A copy in a buffer of its own, moved to the thread.
        const bytes = item === undefined ? null : ownedBytes(item.payload);
        if (bytes !== null) transfer.push(bytes.buffer as ArrayBuffer);
        reply = { id: request.id, ok: true, bytes, encoding: item?.encoding ?? null };
      } else {
        reply = { id: request.id, ok: true, keys: await this.#store.keys(request.bucketKey) };
      }
    } catch (err) {
      reply = { id: request.id, ok: false, error: asGrexError(err).toWire() };
    }
    try {
      port.postMessage(reply, transfer);
    } catch (err) {
      this.#onError(err as Error);
    }
  }

  #runOnSlot(task: WorkerTask, slot: number, signal?: AbortSignal): Promise<unknown> {
    const options: SlotTaskOptions = { slot };
    const payload = Object.assign(task, { [queueOptionsSymbol]: options });
    return this.#piscina.run(payload, signal === undefined ? {} : { signal });
  }

  /** The slot (thread) of a bucket, from the bucket key's FNV-1a hash. */
  slotOf(bucketHash: number): number {
    return slotOf(bucketHash, this.threads);
  }

  /**
   * Runs a job on the thread of `slot`. Rejects with piscina's AbortError when
   * `signal` aborts (the thread is replaced), and with ThreadLostError when the
   * thread died under the job for another reason.
   */
  async runJob(task: JobTask, slot: number, signal: AbortSignal): Promise<JobReply> {
    try {
      return (await this.#runOnSlot(task, slot, signal)) as JobReply;
    } catch (err) {
      // The thread of this slot is gone; its replacement starts from scratch.
      this.#cold.set(slot, null);
      if (signal.aborted) throw err;
      throw new ThreadLostError(err);
    }
  }

  /**
   * Resolves once the slot's thread is ready to run jobs. A thread that
   * replaced one lost to a timeout first imports every job; a job's time
   * limit should not be spent on that, so callers start their clock after this.
   */
  ready(slot: number): Promise<void> {
    if (!this.#cold.has(slot)) return Promise.resolve();
    let warming = this.#cold.get(slot);
    if (warming == null) {
      warming = this.#runOnSlot({ kind: 'load' }, slot).then(
        () => void this.#cold.delete(slot),
        () => void this.#cold.delete(slot),
      );
      this.#cold.set(slot, warming);
    }
    return warming;
  }

  /** Cache counters of every thread. */
  async stats(): Promise<CacheStats[]> {
    return Promise.all(Array.from({ length: this.threads }, (_, slot) => this.#runOnSlot({ kind: 'stats' }, slot) as Promise<CacheStats>));
  }

  /** Thread id in each slot (null while a replacement starts). */
  threadIds(): (number | null)[] {
    return this.#slots.ids();
  }

  async close(): Promise<void> {
    for (const port of this.#ports.values()) port.close();
    this.#ports.clear();
    await this.#piscina.destroy();
  }
}
