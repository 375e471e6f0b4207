/**
 * The main thread's side of the job threads: a piscina pool with a fixed
 * number of threads, each bucket pinned to one of them (bucket-balancer.ts),
 * and the store channel through which threads read items they do not cache.
 */
import type { MessagePort } from 'node:worker_threads';
import { Piscina, queueOptionsSymbol } from 'piscina';
import { ownedBytes } from '../codec.js';
import { asGrexError, GrexError } from '../errors.js';
import type { ItemEncoding } from '../store/item-record.js';
import { defaultJobThreads } from './default-threads.js';
import { createSlotBalancer, slotOf, type SlotTaskOptions, type ThreadSlots } from './bucket-balancer.js';
import { compileJobs, type CompiledJobs } from './job-compiler.js';
import type {
  CacheStats,
  JobReplies,
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
  /** Number of job threads (default: defaultJobThreads()). */
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
/** Young generation of each job thread (V8's semi-spaces are a third of it each). */
const THREAD_YOUNG_GENERATION_MB = 12;

/** A job handed to runJob, until its thread answers. */
interface WaitingJob {
  id: number;
  task: JobTask;
  signal: AbortSignal;
  resolve: (reply: JobReply) => void;
  reject: (err: unknown) => void;
}

export class JobPool {
  readonly threads: number;
  readonly #piscina: Piscina<WorkerTask, unknown>;
  readonly #slots: ThreadSlots;
  readonly #store: StoreReader;
  readonly #ports = new Map<number, MessagePort>();
  readonly #onError: (err: Error) => void;
  /** Slots whose thread was replaced and may still be starting (importing every job). */
  readonly #cold = new Map<number, Promise<void> | null>();
  /** Jobs waiting to go to a slot's thread in the next batch. */
  readonly #batches = new Map<number, WaitingJob[]>();
  /** Jobs sent to a thread and not answered yet, by id. */
  readonly #waiting = new Map<number, WaitingJob>();
  #nextJobId = 1;

  private constructor(options: JobPoolOptions, compiled: CompiledJobs) {
    this.threads = options.threads ?? defaultJobThreads();
    if (!Number.isInteger(this.threads) || this.threads < 1) throw new TypeError('options.threads must be a positive integer');
    this.#store = options.store;
    this.#onError = options.onError ?? (() => {});
    const { balancer, slots } = createSlotBalancer(this.threads, queueOptionsSymbol);
    this.#slots = slots;
    const workerData: WorkerConfig = {
      jobs: options.jobs,
      cacheBytes: Math.floor(options.cacheBytes / this.threads),
      compiled: compiled.modules,
      compileProblems: compiled.problems,
    };
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
      // A thread's young generation grows to 32 MiB under load when not limited; a smaller one
      // costs little here (jobs keep few short-lived objects) and bounds each thread's memory.
      resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB },
    });
    this.#piscina.on('message', (message: unknown) => this.#onWorkerMessage(message));
    // A worker that dies fails its tasks (handled per task); nothing else to do here.
    this.#piscina.on('error', (err: Error) => this.#onError(err));
  }

  /** Starts the threads and imports every job in each; fails with GREX_ERR_JOB_LOAD if any job does not load. */
  static async start(options: JobPoolOptions): Promise<JobPool> {
    const pool = new JobPool(options, await compileJobs(Object.values(options.jobs)));
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
    port.on('message', (message: StoreRequest | JobReplies) => {
      if ('grexJobReplies' in message) this.#onReplies(message);
      else void this.#serveStore(port, message);
    });
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
   *
   * Jobs for one thread that come in the same turn of the event loop travel
   * in one message (a batch task) and are answered on the thread's store port
   * as each finishes: the hop to a thread costs per message, not per job. A
   * job that times out aborts its batch, which replaces the thread: the other
   * jobs of the batch then fail with ThreadLostError (and are run again), as
   * any job on a replaced thread does.
   */
  async runJob(task: JobTask, slot: number, signal: AbortSignal): Promise<JobReply> {
    try {
      return await new Promise<JobReply>((resolve, reject) => {
        let batch = this.#batches.get(slot);
        if (batch === undefined) {
          this.#batches.set(slot, (batch = []));
          setImmediate(() => this.#sendBatch(slot));
        }
        batch.push({ id: this.#nextJobId++, task, signal, resolve, reject });
      });
    } catch (err) {
      // The thread of this slot is gone; its replacement starts from scratch.
      this.#cold.set(slot, null);
      if (signal.aborted) throw err;
      throw new ThreadLostError(err);
    }
  }

  #sendBatch(slot: number): void {
    const jobs = this.#batches.get(slot) ?? [];
    this.#batches.delete(slot);
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    const sent: WaitingJob[] = [];
    for (const job of jobs) {
      if (job.signal.aborted) {
        job.reject(new Error('the job was aborted before it was sent to its thread'));
        continue;
      }
      job.signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.set(job.id, job);
      sent.push(job);
    }
    if (sent.length === 0) return;
    this.#runOnSlot({ kind: 'jobs', jobs: sent.map((job) => ({ ...job.task, id: job.id })) }, slot, abort.signal).then(
      () => {
        // Every answer was posted before the task returned; one still on its way may be
        // overtaken by the task's own answer (another port). Should its job time out
        // meanwhile, it fails by itself: its batch can no longer be aborted.
        for (const job of sent) {
          job.signal.removeEventListener('abort', onAbort);
          if (!this.#waiting.has(job.id)) continue;
          job.signal.addEventListener('abort', () => this.#fail(job, new Error('the job timed out after its thread finished it')), { once: true });
        }
      },
      (err: unknown) => {
        for (const job of sent) {
          job.signal.removeEventListener('abort', onAbort);
          this.#fail(job, err);
        }
      },
    );
  }

  #fail(job: WaitingJob, err: unknown): void {
    if (this.#waiting.get(job.id) !== job) return;
    this.#waiting.delete(job.id);
    job.reject(err);
  }

  #onReplies(message: JobReplies): void {
    for (const { id, reply } of message.grexJobReplies) {
      const job = this.#waiting.get(id);
      if (job === undefined) continue;
      this.#waiting.delete(id);
      job.resolve(reply);
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
