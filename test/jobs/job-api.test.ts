// The job module contract: ctx.get/put/delete/keys/getBytes/putBytes/append, value
// types that survive a round trip, and how job modules are found and refused at start.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { itemCodec } from '../../src/codec.js';
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

describe('ctx.append on a node', () => {
  const listOf = async (node: Awaited<ReturnType<typeof startTestNode>>, bucket: string, item = 'list') => {
    const record = await node.readItem(bucket, item);
    return record === undefined ? undefined : itemCodec.unpack(record.payload);
  };

  test('appends keep the last values; reads, listings and versions show the whole item, also after a restart', async (t) => {
    const data = await tempDir(t);
    const options = { store: 'fs' as const, data, fsync: 'always' as const };
    const node = await startTestNode(t, options);
    const versions: string[] = [];
    for (let i = 1; i <= 8; i++) {
      const { result } = await node.submit<{ length: number }>('c1', 'append-keep', { value: { i, at: new Date(i) }, keep: 5 });
      assert.equal(result.length, Math.min(i, 5));
      const record = (await node.readItem('c1', 'list'))!;
      versions.push(`${record.version.term}-${record.version.seq}`);
    }
    assert.equal(new Set(versions).size, 8, 'every append gives the item a new version');
    const expected = [4, 5, 6, 7, 8].map((i) => ({ i, at: new Date(i) }));
    assert.deepEqual(await listOf(node, 'c1'), expected);
    const [listed] = await node.listItems('c1');
    assert.equal(listed?.size, itemCodec.pack(expected).byteLength);
    assert.equal(listed?.version, versions.at(-1));
    // A job reading it from the store (a new generation drops the thread's copy) sees the same list.
    await node.writeItem({ bucketKey: 'c1', itemKey: 'other', bytes: new Uint8Array([1]), encoding: 'raw' });
    assert.deepEqual((await node.submit('c1', 'read', { item: 'list' })).result, expected);
    await node.stop();
    const again = await startTestNode(t, options);
    assert.deepEqual(await listOf(again, 'c1'), expected);
    assert.equal(`${(await again.readItem('c1', 'list'))!.version.term}-${(await again.readItem('c1', 'list'))!.version.seq}`, versions.at(-1));
    assert.equal((await again.submit<{ length: number }>('c1', 'append-keep', { value: 'after', keep: 5 })).result.length, 5);
    assert.deepEqual(await listOf(again, 'c1'), [...expected.slice(1), 'after']);
  });

  test('appends after an HTTP-style write and a delete build on what the item is then', async (t) => {
    const node = await startTestNode(t, { store: 'fs', data: await tempDir(t), fsync: 'never' });
    await node.writeItem({ bucketKey: 'w', itemKey: 'list', bytes: itemCodec.pack(['put']), encoding: 'msgpack' });
    await node.submit('w', 'append-keep', { value: 'x' });
    assert.deepEqual(await listOf(node, 'w'), ['put', 'x']);
    await node.writeItem({ bucketKey: 'w', itemKey: 'list', bytes: null, encoding: 'raw' });
    await node.submit('w', 'append-keep', { values: ['y', 'z'] });
    assert.deepEqual(await listOf(node, 'w'), ['y', 'z']);
  });

  test('appending to an item that is not a list fails the job and stores nothing', async (t) => {
    const node = await startTestNode(t);
    await node.submit('n', 'counter');
    const err = await rejection(node.submit('n', 'append-keep', { item: 'count', value: 1 }));
    assert.equal(err.code, 'GREX_ERR_ITEM_VALUE_INVALID');
    assert.equal(itemCodec.unpack((await node.readItem('n', 'count'))!.payload), 1);
  });

  test('a list that grows without keep past itemLimitMb is refused and stays as it was', async (t) => {
    const node = await startTestNode(t, { itemLimitMb: 0.01 });
    const chunk = 'x'.repeat(3000);
    for (let i = 0; i < 3; i++) await node.submit('g', 'append-keep', { value: chunk });
    const err = await rejection(node.submit('g', 'append-keep', { value: chunk }));
    assert.equal(err.code, 'GREX_ERR_ITEM_TOO_LARGE');
    assert.equal((await listOf(node, 'g') as unknown[]).length, 3);
    // With keep it stays bounded, so it is not refused.
    assert.equal((await node.submit<{ length: number }>('g', 'append-keep', { value: chunk, keep: 2 })).result.length, 2);
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
