// The item-file thread: files asked for in one turn are written together on a
// thread of their own, each through a temp file renamed over its name; one
// file's failure fails only that file; close waits for writes under way.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ItemFileWriter } from '../../../src/store/item-file-writer.js';
import { tempDir } from '../../helpers/temp-dir.js';

test('files of one turn are all written, folders made, replaced sizes reported when asked', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'tmp'));
  await mkdir(join(dir, 'old'));
  await writeFile(join(dir, 'old', 'x'), 'twelve bytes');
  const writer = new ItemFileWriter();
  t.after(() => writer.close());
  // Parts that are views into larger buffers: only the view is written.
  const big = Buffer.from('..head..payload-of-y..');
  const results = await Promise.all([
    writer.write(join(dir, 'old'), 'x', join(dir, 'tmp', 't1'), [Buffer.from('new '), Buffer.from('x')], true),
    writer.write(join(dir, 'new', 'deeper'), 'y', join(dir, 'tmp', 't2'), [big.subarray(2, 6), big.subarray(8, 20)], true),
    writer.write(join(dir, 'old'), 'z', join(dir, 'tmp', 't3'), [Buffer.from('z')], false),
  ]);
  assert.deepEqual(results, [12, null, null]);
  assert.equal(await readFile(join(dir, 'old', 'x'), 'utf8'), 'new x');
  assert.equal(await readFile(join(dir, 'new', 'deeper', 'y'), 'utf8'), 'headpayload-of-y');
  assert.equal(await readFile(join(dir, 'old', 'z'), 'utf8'), 'z');
  assert.deepEqual(await readdir(join(dir, 'tmp')), []);
});

test('a file that cannot be written fails alone, with its errno, and leaves no temp file', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'tmp'));
  await writeFile(join(dir, 'not-a-folder'), 'a file where a folder should be');
  const writer = new ItemFileWriter();
  t.after(() => writer.close());
  const [bad, good] = await Promise.allSettled([
    writer.write(join(dir, 'not-a-folder', 'b'), 'i', join(dir, 'tmp', 't1'), [Buffer.from('lost')], true),
    writer.write(join(dir, 'ok'), 'i', join(dir, 'tmp', 't2'), [Buffer.from('kept')], true),
  ]);
  assert.equal(bad.status, 'rejected');
  assert.equal(((bad as PromiseRejectedResult).reason as NodeJS.ErrnoException).code, 'ENOTDIR');
  assert.deepEqual(good, { status: 'fulfilled', value: null });
  assert.equal(await readFile(join(dir, 'ok', 'i'), 'utf8'), 'kept');
  assert.deepEqual(await readdir(join(dir, 'tmp')), []);
});

test('close waits for the writes under way, then refuses new ones', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'tmp'));
  const writer = new ItemFileWriter();
  const writes = Array.from({ length: 50 }, (_, i) => writer.write(join(dir, 'b'), `i${i}`, join(dir, 'tmp', `t${i}`), [Buffer.alloc(4096, i)], false));
  await writer.close();
  assert.equal((await Promise.all(writes)).length, 50);
  assert.equal((await readdir(join(dir, 'b'))).length, 50);
  await assert.rejects(writer.write(join(dir, 'b'), 'late', join(dir, 'tmp', 'late'), [Buffer.from('x')], false), (err: NodeJS.ErrnoException) => err.code === 'EIO');
});
