/**
 * Entry of a job worker thread (loaded by piscina; jobs come down the
 * thread's line, see job-pool.ts).
 *
 * Per job: drop the bucket's cached copies if their generation is not the
 * task's, decode the data, run the job against a context over the cache,
 * encode its changes and result, update the cache, and hand back bytes. Every
 * failure becomes an error reply; nothing thrown here may crash the thread.
 */
import { threadId, workerData } from 'node:worker_threads';
import { decodeWire, itemCodec, ownedBytes, wireCodec } from '../codec.js';
import { asGrexError, GrexError } from '../errors.js';
import { WorkerJobContext } from './job-context.js';
import { loadJob, setCompileProblems } from './job-loader.js';
import { ObjectCache } from './object-cache.js';
import { packReply, unpackJobs, type JobBatch, type JobReplies } from './line-messages.js';
import { WARM_JOB, type CacheStats, type JobReply, type JobTask, type LoadReply, type PayloadEncoding, type WorkerConfig, type WorkerTask } from './protocol.js';
import { StorePort } from './store-port.js';
import { installGrexResolver } from './grex-resolver.js';

const config = workerData as WorkerConfig;
installGrexResolver(config.compiled);
setCompileProblems(config.compileProblems);
/** Buffers from this size on are moved to the main thread; smaller ones are copied (cheaper). */
const MOVE_BYTES_MIN = 4096;
const cache = new ObjectCache(config.cacheBytes);
const store = new StorePort();

// Import every job before piscina hands this thread its first task, so a thread that
// replaces one lost to a timeout does not spend a job's time budget compiling jobs.
// Failures are not thrown here (that would stop piscina replacing threads): the
// 'load' task reports them, and a job that failed to load fails when called.
await Promise.allSettled(Object.values(config.jobs).map((path) => loadJob(path)));

function decodeData(data: JobTask['data'], encoding: PayloadEncoding): unknown {
  if (data === undefined) return undefined;
  try {
    if (encoding === 'json') return (data as string).length === 0 ? undefined : JSON.parse(data as string);
    if (encoding === 'msgpack') return (data as Uint8Array).byteLength === 0 ? undefined : decodeWire(data as Uint8Array);
    return itemCodec.unpack(data as Uint8Array);
  } catch (err) {
    throw new GrexError('GREX_ERR_BODY_MALFORMED', `job data is not valid ${encoding === 'json' ? 'JSON' : 'msgpack'}: ${(err as Error).message}`);
  }
}

function encodeResult(result: unknown, encoding: PayloadEncoding): string | Uint8Array {
  try {
    if (encoding === 'json') return JSON.stringify(result === undefined ? null : result);
    if (encoding === 'msgpack') return ownedBytes(wireCodec.pack(result));
    return ownedBytes(itemCodec.pack(result));
  } catch (err) {
    throw new GrexError('GREX_ERR_JOB_RESULT_INVALID', `the job's result cannot be encoded as ${encoding}: ${(err as Error).message}`);
  }
}

/** A warm handover: every item of the bucket into this thread's cache, nothing changed. */
async function warmBucket(task: JobTask): Promise<JobReply> {
  const ctx = new WorkerJobContext(task.bucketKey, task.gen, cache, store);
  try {
    // A damaged item stays out of the cache; the first job that reads it gets it repaired.
    for (const itemKey of await ctx.keys()) await ctx.get(itemKey).catch(() => undefined);
    ctx.close();
    return { ok: true, result: 'null', changes: [], threadId };
  } catch (err) {
    ctx.abandon();
    cache.dropBucket(task.bucketKey);
    return { ok: false, error: asGrexError(err).toWire(), threadId };
  }
}

/** A job's answer with the buffers to move along with it. */
interface Answer {
  reply: JobReply;
  transfer: ArrayBuffer[];
}

async function answerJob(task: JobTask): Promise<Answer> {
  cache.sync(task.bucketKey, task.gen);
  if (task.jobName === WARM_JOB) return { reply: await warmBucket(task), transfer: [] };
  const path = config.jobs[task.jobName];
  if (path === undefined) {
    return { reply: { ok: false, error: { code: 'GREX_ERR_JOB_NOT_FOUND', message: `no job named ${task.jobName}` }, threadId }, transfer: [] };
  }
  const ctx = new WorkerJobContext(task.bucketKey, task.gen, cache, store);
  try {
    const data = decodeData(task.data, task.dataEncoding);
    const job = await loadJob(path);
    let output: unknown;
    try {
      output = await job(ctx, data);
    } catch (err) {
      // Errors from ctx (a corrupt item, an invalid key) keep their code; the job's own become JOB_FAILED.
      if (err instanceof GrexError && err.code !== 'GREX_ERR_INTERNAL') throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new GrexError('GREX_ERR_JOB_FAILED', message, { job: task.jobName });
    }
    const changes = ctx.close();
    const result = encodeResult(output, task.resultEncoding);
    // From here the job succeeded on this thread: the cache holds its changes, at the
    // generation the bucket gets if they commit (a failed commit bumps it elsewhere).
    for (const change of changes) cache.store(task.bucketKey, change.itemKey, change.entry, task.gen);
    if (changes.length > 0) cache.setGen(task.bucketKey, task.nextGen);
    const reply: JobReply = {
      ok: true,
      result,
      changes: changes.map(({ itemKey, bytes, encoding, appendKeep }) => (appendKeep === undefined ? { itemKey, bytes, encoding } : { itemKey, bytes, encoding, appendKeep })),
      threadId,
    };
    // Large msgpack change buffers are owned by the reply alone: move them. Raw ones are also
    // cached: copy. Small ones (an append's values, most results) are cheaper to copy than to move.
    const transfer: ArrayBuffer[] = [];
    for (const change of changes) {
      if (change.bytes !== null && change.encoding === 'msgpack' && change.bytes.byteLength >= MOVE_BYTES_MIN) transfer.push(change.bytes.buffer as ArrayBuffer);
    }
    if (typeof result !== 'string' && result.byteLength >= MOVE_BYTES_MIN) transfer.push(result.buffer as ArrayBuffer);
    return { reply, transfer };
  } catch (err) {
    ctx.abandon();
    // The job may have changed cached objects in place: forget the bucket.
    cache.dropBucket(task.bucketKey);
    return { reply: { ok: false, error: asGrexError(err).toWire(), threadId }, transfer: [] };
  }
}

// Answers wait here for the end of the current turn, so that the jobs of a batch that
// finish together (cache hits do) go back in one message.
let replies: JobReplies = [];
let replyTransfer: ArrayBuffer[] = [];

function queueReply(id: number, answer: Answer): void {
  if (replies.length === 0) setImmediate(flushReplies);
  packReply(replies, id, answer.reply);
  for (const buffer of answer.transfer) replyTransfer.push(buffer);
}

function flushReplies(): void {
  if (replies.length === 0) return;
  const message = replies;
  const transfer = replyTransfer;
  replies = [];
  replyTransfer = [];
  store.postReplies(message, transfer);
}

/** Runs a batch's jobs side by side; each is answered on the line as it finishes. */
function runBatch(batch: JobBatch): void {
  for (const job of unpackJobs(batch)) {
    void answerJob(job).then(
      (answer) => queueReply(job.id, answer),
      (err: unknown) => queueReply(job.id, { reply: { ok: false, error: asGrexError(err).toWire(), threadId }, transfer: [] }),
    );
  }
}

async function loadAll(): Promise<LoadReply> {
  const problems: string[] = [];
  const jobs: string[] = [];
  for (const [name, path] of Object.entries(config.jobs)) {
    try {
      await loadJob(path);
      jobs.push(name);
    } catch (err) {
      problems.push(`${name} (${path}): ${(err as Error).message}`);
    }
  }
  return { threadId, jobs, problems };
}

function stats(): CacheStats {
  return {
    threadId,
    hits: cache.hits,
    misses: cache.misses,
    evictions: cache.evictions,
    bytes: cache.bytes,
    maxBytes: cache.maxBytes,
    items: cache.items,
    buckets: cache.bucketCount,
  };
}

export default async function handle(task: WorkerTask): Promise<LoadReply | CacheStats | null> {
  switch (task.kind) {
    case 'hold':
      // The thread serves its line until the line closes (or piscina terminates the thread).
      await store.attach(task.port, runBatch);
      return null;
    case 'load':
      return loadAll();
    case 'stats':
      return stats();
  }
}
