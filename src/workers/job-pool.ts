/**
 * The main thread's side of the job threads: a piscina pool with a fixed
 * number of threads, each bucket pinned to one of them (bucket-balancer.ts).
 *
 * piscina starts, replaces and stops the threads; jobs do not go through its
 * task queue. Each thread runs one long "hold" task that hands it a
 * MessagePort, its *line*: jobs go down the line in batches and come back
 * on it, and so do the thread's store reads. A message on a plain port costs
 * the main thread less than half of a piscina task (bench/thread-hop.ts).
 * A job that runs past its time limit aborts its thread's hold task, which
 * makes piscina terminate the thread and start a replacement.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina, queueOptionsSymbol } from 'piscina';
import { ownedBytes } from '../codec.js';
import { asGrexError, GrexError } from '../errors.js';
import type { ItemEncoding } from '../store/item-record.js';
import { defaultJobThreads } from './default-threads.js';
import { InFlight } from './in-flight.js';
import { createSlotBalancer, slotOf, type SlotTaskOptions, type ThreadSlots } from './bucket-balancer.js';
import { compileJobs, type CompiledJobs } from './job-compiler.js';
import { packJob, unpackReplies, type JobBatch, type JobReplies } from './line-messages.js';
import type { CacheStats, JobReply, JobTask, LoadReply, StoreReply, StoreRequest, WorkerConfig, WorkerTask } from './protocol.js';

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
  /** Called with errors of the threads' lines that have no job to fail. */
  onError?: (err: Error) => void;
}

/** The thread running a job was terminated (another job on it timed out): the job never finished. */
export class ThreadLostError extends Error {
  constructor(cause: unknown) {
    super(`job thread lost: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'ThreadLostError';
  }
}

/** A job ran longer than its time limit; its thread was terminated. */
export class JobTimedOutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`the job ran longer than ${timeoutMs} ms`);
    this.name = 'JobTimedOutError';
  }
}

const WORKER_FILE = new URL('./job-worker.js', import.meta.url);
/** Young generation of each job thread (V8's semi-spaces are a third of it each). */
const THREAD_YOUNG_GENERATION_MB = 12;

/** A job handed to runJob, until its thread answers. */
interface WaitingJob {
  /** Its index in its line's jobs once sent (the id its answer names). */
  id: number;
  /** Until it is sent (then only the thread needs it). */
  task: JobTask | null;
  batch: SentBatch | null;
  deadline: number;
  timeoutMs: number;
  resolve: (reply: JobReply) => void;
  reject: (err: unknown) => void;
}

/** Jobs that went down a line in one message, watched by one timer. */
interface SentBatch {
  jobs: WaitingJob[];
  unanswered: number;
  timer: NodeJS.Timeout | null;
}

/** A thread's line: the port its jobs and store reads travel on, while its hold task runs. */
interface Line {
  readonly slot: number;
  readonly port: MessagePort;
  readonly hold: AbortController;
  /** Jobs sent down the line and not answered yet, by id. */
  readonly jobs: InFlight<WaitingJob>;
  lost: boolean;
}

export class JobPool {
  readonly threads: number;
  readonly #piscina: Piscina<WorkerTask, unknown>;
  readonly #slots: ThreadSlots;
  readonly #store: StoreReader;
  readonly #onError: (err: Error) => void;
  /** The open line of each slot (null while its thread starts or is being replaced). */
  readonly #lines: (Line | null)[];
  /** A slot's line being opened: its thread imports every job first. */
  readonly #opening: (Promise<LoadReply> | null)[];
  /** Jobs waiting to go down each slot's line in the next batch (by slot: no Map to churn every turn). */
  readonly #batches: (WaitingJob[] | null)[];
  #closed = false;

  private constructor(options: JobPoolOptions, compiled: CompiledJobs) {
    this.threads = options.threads ?? defaultJobThreads();
    if (!Number.isInteger(this.threads) || this.threads < 1) throw new TypeError('options.threads must be a positive integer');
    this.#store = options.store;
    this.#onError = options.onError ?? (() => {});
    this.#lines = new Array<Line | null>(this.threads).fill(null);
    this.#opening = new Array<Promise<LoadReply> | null>(this.threads).fill(null);
    this.#batches = new Array<WaitingJob[] | null>(this.threads).fill(null);
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
      maxQueue: Infinity,
      // A thread runs its hold task alongside load and stats tasks.
      concurrentTasksPerWorker: 16,
      workerData,
      loadBalancer: balancer as never,
      // A thread's young generation grows to 32 MiB under load when not limited; a smaller one
      // costs little here (jobs keep few short-lived objects) and bounds each thread's memory.
      resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB },
    });
    // A worker that dies fails its hold task (handled per line); nothing else to do here.
    this.#piscina.on('error', (err: Error) => this.#onError(err));
  }

  /** Starts the threads and imports every job in each; fails with GREX_ERR_JOB_LOAD if any job does not load. */
  static async start(options: JobPoolOptions): Promise<JobPool> {
    const pool = new JobPool(options, await compileJobs(Object.values(options.jobs)));
    try {
      const replies = await Promise.all(Array.from({ length: pool.threads }, (_, slot) => pool.#open(slot)));
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

  #runOnSlot(task: WorkerTask, slot: number, signal?: AbortSignal, transferList?: MessagePort[]): Promise<unknown> {
    const options: SlotTaskOptions = { slot };
    const payload = Object.assign(task, { [queueOptionsSymbol]: options });
    return this.#piscina.run(payload, { ...(signal === undefined ? {} : { signal }), ...(transferList === undefined ? {} : { transferList: transferList as never }) });
  }

  /** Imports every job in the slot's thread, then opens its line (once at a time per slot). */
  #open(slot: number): Promise<LoadReply> {
    let opening = this.#opening[slot];
    if (opening != null) return opening;
    opening = (async () => {
      try {
        const loaded = (await this.#runOnSlot({ kind: 'load' }, slot)) as LoadReply;
        if (this.#closed) throw new Error('the job pool is closed');
        const { port1, port2 } = new MessageChannel();
        const line: Line = { slot, port: port1, hold: new AbortController(), jobs: new InFlight(), lost: false };
        port1.on('message', (message: StoreRequest | JobReplies) => {
          if (Array.isArray(message)) this.#onReplies(line, message);
          else void this.#serveStore(line, message);
        });
        port1.on('close', () => this.#lose(line, new Error('its line closed')));
        // The main thread must be free to exit while threads idle.
        port1.unref();
        this.#lines[slot] = line;
        this.#runOnSlot({ kind: 'hold', port: port2 }, slot, line.hold.signal, [port2]).then(
          () => this.#lose(line, new Error('its hold task ended')),
          (err: unknown) => this.#lose(line, err),
        );
        return loaded;
      } finally {
        this.#opening[slot] = null;
      }
    })();
    this.#opening[slot] = opening;
    return opening;
  }

  /**
   * A line's thread is gone or going: every job on it fails. The job that ran
   * out of time (if any) times out; the others never finished and may run again.
   */
  #lose(line: Line, cause: unknown, timedOut?: WaitingJob): void {
    if (line.lost) return;
    line.lost = true;
    if (this.#lines[line.slot] === line) this.#lines[line.slot] = null;
    line.hold.abort();
    line.port.close();
    for (const job of line.jobs.takeAll()) {
      if (job.batch?.timer != null) clearTimeout(job.batch.timer);
      job.reject(job === timedOut ? new JobTimedOutError(job.timeoutMs) : new ThreadLostError(cause));
    }
  }

  async #serveStore(line: Line, request: StoreRequest): Promise<void> {
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
    if (line.lost) return;
    try {
      line.port.postMessage(reply, transfer);
    } catch (err) {
      this.#onError(err as Error);
    }
  }

  /** The slot (thread) of a bucket, from the bucket key's FNV-1a hash. */
  slotOf(bucketHash: number): number {
    return slotOf(bucketHash, this.threads);
  }

  /**
   * Runs a job on the thread of `slot`. Rejects with JobTimedOutError when it
   * runs longer than `timeoutMs` (its thread is replaced), and with
   * ThreadLostError when its thread was lost under it for another reason
   * (another job on it timed out): such a job never finished.
   *
   * Jobs for one thread that come in the same turn of the event loop go down
   * its line in one message; the thread answers each as it finishes (those
   * that finish together in one message).
   */
  runJob(task: JobTask, slot: number, timeoutMs: number): Promise<JobReply> {
    return new Promise<JobReply>((resolve, reject) => {
      let batch = this.#batches[slot];
      if (batch == null) {
        this.#batches[slot] = batch = [];
        setImmediate(() => this.#sendBatch(slot));
      }
      batch.push({ id: -1, task, batch: null, deadline: 0, timeoutMs, resolve, reject });
    });
  }

  #sendBatch(slot: number): void {
    const jobs = this.#batches[slot] ?? [];
    this.#batches[slot] = null;
    const line = this.#lines[slot];
    if (line == null || line.lost) {
      for (const job of jobs) job.reject(new ThreadLostError(new Error('its thread is being replaced')));
      return;
    }
    const now = Date.now();
    const message: JobBatch = [];
    const sent: SentBatch = { jobs, unanswered: jobs.length, timer: null };
    let first = Infinity;
    for (const job of jobs) {
      job.deadline = now + job.timeoutMs;
      job.batch = sent;
      first = Math.min(first, job.deadline);
      job.id = line.jobs.add(job);
      packJob(message, job.id, job.task!);
      job.task = null;
    }
    try {
      line.port.postMessage(message);
    } catch (err) {
      // Job data are strings and bytes: only a closed line fails here.
      this.#lose(line, err);
      return;
    }
    this.#watch(line, sent, first - now);
  }

  /**
   * One timer per batch (cleared when its last job is answered): a job of it
   * still running at its deadline takes its thread down. Which of the jobs on
   * a stuck thread is the stuck one cannot be told; the first one past its
   * deadline is timed out, the others are run again (a stuck one then times
   * out on its own).
   */
  #watch(line: Line, sent: SentBatch, delayMs: number): void {
    sent.timer = setTimeout(() => {
      sent.timer = null;
      if (line.lost) return;
      const now = Date.now();
      let next = Infinity;
      for (const job of sent.jobs) {
        if (!line.jobs.holds(job.id, job)) continue;
        if (job.deadline <= now) return this.#lose(line, new Error('another job on its thread timed out'), job);
        next = Math.min(next, job.deadline);
      }
      if (next !== Infinity) this.#watch(line, sent, next - now);
    }, Math.max(0, delayMs));
    sent.timer.unref();
  }

  #onReplies(line: Line, message: JobReplies): void {
    unpackReplies(message, (id, reply) => {
      const job = line.jobs.take(id);
      if (job === undefined) return;
      const sent = job.batch!;
      if (--sent.unanswered === 0 && sent.timer !== null) clearTimeout(sent.timer);
      job.resolve(reply);
    });
  }

  /**
   * Undefined once the slot's thread is ready to run jobs, else a promise of
   * that. A thread that replaced one lost to a timeout first imports every
   * job; a job's time limit should not be spent on that, so callers start
   * their clock after this.
   */
  ready(slot: number): Promise<void> | undefined {
    if (this.#lines[slot] != null) return undefined;
    if (this.#closed) return Promise.reject(new GrexError('GREX_ERR_SHUTTING_DOWN', 'the job pool is closed'));
    return this.#open(slot).then(() => undefined);
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
    this.#closed = true;
    for (const line of this.#lines) if (line != null) this.#lose(line, new Error('the job pool closed'));
    await this.#piscina.destroy();
  }
}
