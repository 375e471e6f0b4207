/**
 * Jobs and their answers as they travel on a thread's line: flat arrays of
 * strings, numbers and bytes, not arrays of objects. Structured clone writes
 * every property name of every object; a flat array of a turn's jobs costs
 * the main thread a fraction of that to send and to read back (measured with
 * v8.serialize/deserialize: about a third for jobs, a quarter for answers).
 * Store requests and replies stay objects: a line tells them apart by
 * Array.isArray.
 */
import type { WireError } from '../errors.js';
import type { ItemEncoding } from '../store/item-record.js';
import type { ItemChange, JobReply, JobTask, PayloadEncoding } from './protocol.js';

/** A turn's jobs: [id, bucketKey, jobName, data, dataEncoding, resultEncoding, gen, nextGen] per job. */
export type JobBatch = (string | number | Uint8Array | undefined)[];
/**
 * Answers: per job [id, 1, result, threadId, changes, (itemKey, bytes, encoding, appendKeep or -1) × changes]
 * or [id, 0, error, threadId].
 */
export type JobReplies = (string | number | Uint8Array | null | WireError)[];

const JOB_FIELDS = 8;

export function packJob(batch: JobBatch, id: number, task: JobTask): void {
  batch.push(id, task.bucketKey, task.jobName, task.data, task.dataEncoding, task.resultEncoding, task.gen, task.nextGen);
}

export function unpackJobs(batch: JobBatch): (JobTask & { id: number })[] {
  const jobs: (JobTask & { id: number })[] = [];
  for (let i = 0; i + JOB_FIELDS <= batch.length; i += JOB_FIELDS) {
    jobs.push({
      id: batch[i] as number,
      bucketKey: batch[i + 1] as string,
      jobName: batch[i + 2] as string,
      data: batch[i + 3] as string | Uint8Array | undefined,
      dataEncoding: batch[i + 4] as PayloadEncoding,
      resultEncoding: batch[i + 5] as PayloadEncoding,
      gen: batch[i + 6] as number,
      nextGen: batch[i + 7] as number,
    });
  }
  return jobs;
}

export function packReply(replies: JobReplies, id: number, reply: JobReply): void {
  if (!reply.ok) {
    replies.push(id, 0, reply.error, reply.threadId);
    return;
  }
  replies.push(id, 1, reply.result, reply.threadId, reply.changes.length);
  for (const change of reply.changes) replies.push(change.itemKey, change.bytes, change.encoding, change.appendKeep ?? -1);
}

/** Calls `each` with every answer of a message, in order. */
export function unpackReplies(replies: JobReplies, each: (id: number, reply: JobReply) => void): void {
  let i = 0;
  while (i < replies.length) {
    const id = replies[i] as number;
    const threadId = replies[i + 3] as number;
    if (replies[i + 1] === 0) {
      each(id, { ok: false, error: replies[i + 2] as WireError, threadId });
      i += 4;
      continue;
    }
    const result = replies[i + 2] as string | Uint8Array;
    const count = replies[i + 4] as number;
    i += 5;
    const changes: ItemChange[] = [];
    for (let c = 0; c < count; c++, i += 4) {
      const appendKeep = replies[i + 3] as number;
      const change: ItemChange = { itemKey: replies[i] as string, bytes: replies[i + 1] as Uint8Array | null, encoding: replies[i + 2] as ItemEncoding };
      if (appendKeep >= 0) change.appendKeep = appendKeep;
      changes.push(change);
    }
    each(id, { ok: true, result, changes, threadId });
  }
}
