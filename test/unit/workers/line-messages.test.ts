// Jobs and answers survive their flat form on a thread's line: every field, in order,
// bytes and deletes, appends with and without `keep`, and errors among successes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { packJob, packReply, unpackJobs, unpackReplies, type JobBatch, type JobReplies } from '../../../src/workers/line-messages.js';
import type { JobReply, JobTask } from '../../../src/workers/protocol.js';

describe('line messages', () => {
  test('a batch of jobs unpacks to the same tasks, in order', () => {
    const tasks: JobTask[] = [
      { bucketKey: 'ann', jobName: 'append', data: '{"x":1}', dataEncoding: 'json', resultEncoding: 'json', gen: 3, nextGen: 9 },
      { bucketKey: 'bob', jobName: 'read', data: undefined, dataEncoding: 'json', resultEncoding: 'msgpack', gen: 0, nextGen: 10 },
      { bucketKey: 'cy', jobName: 'put', data: new Uint8Array([1, 2, 3]), dataEncoding: 'value', resultEncoding: 'value', gen: 7, nextGen: 11 },
    ];
    const batch: JobBatch = [];
    tasks.forEach((task, i) => packJob(batch, 100 + i, task));
    const unpacked = unpackJobs(structuredClone(batch));
    assert.deepEqual(
      unpacked,
      tasks.map((task, i) => ({ ...task, id: 100 + i })),
    );
  });

  test('answers unpack to the same replies, in order: changes, deletes, appends with keep 0 or none, errors', () => {
    const replies: [number, JobReply][] = [
      [1, { ok: true, result: '{"n":1}', changes: [], threadId: 4 }],
      [2, { ok: false, error: { code: 'GREX_ERR_JOB_FAILED', message: 'card declined', data: { job: 'pay' } }, threadId: 4 }],
      [
        3,
        {
          ok: true,
          result: new Uint8Array([9]),
          changes: [
            { itemKey: 'list', bytes: new Uint8Array([1, 2]), encoding: 'msgpack', appendKeep: 0 },
            { itemKey: 'gone', bytes: null, encoding: 'raw' },
            { itemKey: 'log', bytes: new Uint8Array([3]), encoding: 'msgpack', appendKeep: 200 },
          ],
          threadId: 5,
        },
      ],
      [4, { ok: true, result: 'null', changes: [{ itemKey: 'blob', bytes: new Uint8Array([7]), encoding: 'raw' }], threadId: 5 }],
    ];
    const message: JobReplies = [];
    for (const [id, reply] of replies) packReply(message, id, reply);
    const seen: [number, JobReply][] = [];
    unpackReplies(structuredClone(message), (id, reply) => seen.push([id, reply]));
    assert.deepEqual(seen, replies);
  });
});
