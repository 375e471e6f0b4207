// The job module contract: ctx.get/put/delete/keys/getBytes/putBytes, value types that
// survive a round trip, and how job modules are found and refused at start.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startNode } from '../../src/grex-node.js';
import { discoverJobs } from '../../src/workers/job-catalog.js';
import { fixtureJobs } from '../helpers/paths.js';
import { rejection, startTestNode } from '../helpers/nodes.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('ctx', () => {
  test('Date, Map, Set, typed arrays and bigint survive a store round trip', async (t) => {
    const node = await startTestNode(t);
    const value = {
      when: new Date('2024-02-29T12:00:00.000Z'),
      map: new Map<unknown, unknown>([['a', 1], [2, { b: [3] }]]),
      set: new Set(['x', 'y']),
      bytes: new Uint8Array([1, 2, 255]),
      floats: new Float64Array([1.5, -0]),
      big: 2n ** 70n,
      nested: [{ n: null, t: true, s: 'é😀' }],
    };
    await node.submit('types', 'store-value', { item: 'v', value });
    // A different node start would read it from the store; here a new generation forces a store read.
    await node.writeItem({ bucketKey: 'types', itemKey: 'unrelated', bytes: new Uint8Array([1]), encoding: 'raw' });
    const { result } = await node.submit('types', 'read', { item: 'v' });
    assert.deepEqual(result, value);
  });

  test('raw items: putBytes, getBytes, keys and delete', async (t) => {
    const node = await startTestNode(t);
    assert.deepEqual((await node.submit('r', 'raw', { op: 'put', item: 'note', text: 'héllo' })).result, ['note']);
    await node.submit('r', 'counter');
    assert.equal((await node.submit('r', 'raw', { op: 'get', item: 'note' })).result, 'héllo');
    assert.deepEqual((await node.submit('r', 'raw', { op: 'keys' })).result, ['count', 'note']);
    assert.deepEqual((await node.submit('r', 'raw', { op: 'delete', item: 'note' })).result, ['count']);
    assert.equal((await node.submit('r', 'raw', { op: 'get', item: 'note' })).result, null);
    assert.equal(await node.readItem('r', 'note'), undefined);
    const stored = await node.readItem('r', 'count');
    assert.equal(stored?.encoding, 'msgpack');
  });

  test('reading a raw item as a value fails the job with GREX_ERR_ITEM_VALUE_INVALID', async (t) => {
    const node = await startTestNode(t);
    await node.writeItem({ bucketKey: 'r', itemKey: 'blob', bytes: new Uint8Array([0x92, 0x01]), encoding: 'raw' }); // a truncated msgpack array
    const err = await rejection(node.submit('r', 'read', { item: 'blob' }));
    assert.equal(err.code, 'GREX_ERR_ITEM_VALUE_INVALID');
  });

  test('an invalid item key inside a job is GREX_ERR_KEY_INVALID', async (t) => {
    const node = await startTestNode(t);
    const err = await rejection(node.submit('r', 'use-bad-key'));
    assert.equal(err.code, 'GREX_ERR_KEY_INVALID');
  });

  test('in-process submit validates keys, job names and data', async (t) => {
    const node = await startTestNode(t);
    assert.equal((await rejection(node.submit('', 'counter'))).code, 'GREX_ERR_KEY_INVALID');
    assert.equal((await rejection(node.submit('a\0b', 'counter'))).code, 'GREX_ERR_KEY_INVALID');
    assert.equal((await rejection(node.submit('x'.repeat(257), 'counter'))).code, 'GREX_ERR_KEY_INVALID');
    assert.equal((await rejection(node.submit('a', 'Counter'))).code, 'GREX_ERR_JOB_NAME_INVALID');
    assert.equal((await rejection(node.submit('a', 'nope'))).code, 'GREX_ERR_JOB_NOT_FOUND');
    assert.equal((await rejection(node.submit('a', '_helper'))).code, 'GREX_ERR_JOB_NAME_INVALID');
    assert.equal((await rejection(node.submit('a', 'echo', { s: Symbol('x') }))).code, 'GREX_ERR_JOB_DATA_INVALID');
    assert.deepEqual((await node.submit('a', 'echo', { ok: [1, 'two'] })).result, { ok: [1, 'two'] });
  });

  test('items larger than itemLimitMb are refused and nothing is stored', async (t) => {
    const node = await startTestNode(t, { itemLimitMb: 0.01 });
    await node.submit('big', 'big-item', { bytes: 1000 });
    const err = await rejection(node.submit('big', 'big-item', { bytes: 20_000 }));
    assert.equal(err.code, 'GREX_ERR_ITEM_TOO_LARGE');
    assert.equal((await node.readItem('big', 'big'))?.payload.byteLength, 1000);
  });
});

describe('job discovery', () => {
  test('finds .ts and .js jobs and skips helpers, declarations and folders', async () => {
    const jobs = await discoverJobs(fixtureJobs);
    assert.ok(jobs.counter?.endsWith('counter.ts'));
    assert.ok(jobs['counter-js']?.endsWith('counter-js.js'));
    assert.equal(jobs._helper, undefined);
  });

  test('a badly named job file stops the start with GREX_ERR_JOB_LOAD naming it', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'sendEmail.js'), 'export default async () => 1;');
    const err = await rejection(startNode({ store: 'memory', jobs: dir, http: false, logLevel: 'silent' }));
    assert.equal(err.code, 'GREX_ERR_JOB_LOAD');
    assert.match(err.message, /sendEmail\.js/);
  });

  test('a job without a default-exported function stops the start', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'good.js'), 'export default async () => 1;');
    await writeFile(join(dir, 'nodefault.js'), 'export const job = async () => 1;');
    const err = await rejection(startNode({ store: 'memory', jobs: dir, http: false, workers: 1, logLevel: 'silent' }));
    assert.equal(err.code, 'GREX_ERR_JOB_LOAD');
    assert.match(err.message, /nodefault/);
  });

  test('a job that throws while loading stops the start', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'broken.ts'), 'const x: number = 1;\nthrow new Error("boom at load");\nexport default async () => x;');
    const err = await rejection(startNode({ store: 'memory', jobs: dir, http: false, workers: 1, logLevel: 'silent' }));
    assert.equal(err.code, 'GREX_ERR_JOB_LOAD');
    assert.match(err.message, /boom at load/);
  });

  test('two modules for one job name stop the start', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'twice.js'), 'export default async () => 1;');
    await writeFile(join(dir, 'twice.ts'), 'export default async () => 2;');
    const err = await rejection(startNode({ store: 'memory', jobs: dir, http: false, logLevel: 'silent' }));
    assert.equal(err.code, 'GREX_ERR_JOB_LOAD');
  });

  test('a missing jobs folder stops the start', async (t) => {
    const dir = await tempDir(t);
    const err = await rejection(startNode({ store: 'memory', jobs: join(dir, 'nope'), http: false, logLevel: 'silent' }));
    assert.equal(err.code, 'GREX_ERR_JOB_LOAD');
  });

  test('jobs in a folder without Grex installed can import grex/job (ESM and CommonJS)', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'as-esm.mjs'), 'import { defineJob } from "grex/job";\nexport default defineJob(async () => "esm");');
    await writeFile(join(dir, 'as-ts.ts'), 'import { defineJob } from "grex/job";\nexport default defineJob(async (): Promise<string> => "ts");');
    const node = await startTestNode(t, { jobs: dir });
    assert.equal((await node.submit('x', 'as-esm')).result, 'esm');
    assert.equal((await node.submit('x', 'as-ts')).result, 'ts');
  });

  test('a TypeScript job in a folder outside the project loads (tsx in worker threads)', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'lib'));
    await writeFile(join(dir, 'lib', 'twice.ts'), 'export const twice = (n: number): number => n * 2;');
    await writeFile(
      join(dir, 'double.ts'),
      'import { twice } from "./lib/twice.ts";\ninterface D { n: number }\nexport default async (_ctx: unknown, data: D): Promise<number> => twice(data.n);',
    );
    const node = await startTestNode(t, { jobs: dir });
    assert.equal((await node.submit('x', 'double', { n: 21 })).result, 42);
  });
});
