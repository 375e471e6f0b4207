// The item-file thread: files asked for in one turn are written together on a
// thread of their own, each through a temp file renamed over its name; one
// file's failure fails only that file; close waits for writes under way. Items
// whose deltas are due are composed there, to the bytes the main thread would
// compose.
import assert from 'node:assert/strict';
import { access, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { itemCodec } from '../../../src/codec.js';
import { composeItem } from '../../../src/store/item-delta.js';
import { decodeItemRecord, encodeItemRecord, type ItemRecord } from '../../../src/store/item-record.js';
import { ItemFileWriter } from '../../../src/store/item-file-writer.js';
import { NO_VERSION } from '../../../src/store/version.js';
import { appendRecord as append, listRecord as whole, v } from '../../helpers/list-records.js';
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

test('deltas composed on the thread give the bytes composed here; a file only when one applies', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'tmp'));
  const writer = new ItemFileWriter();
  t.after(() => writer.close());
  const records = Array.from({ length: 200 }, (_, i) => ({ n: i, at: new Date(1_700_000_000_000 + i), tag: `r${i}` }));
  // Views into a larger buffer, a delta already held (seq 3 < base 5) and one with a gap (base 9): as composeItem.
  const big = Buffer.concat([Buffer.from('junk'), itemCodec.pack(records)]);
  const base: ItemRecord = { ...whole(5, null), payload: big.subarray(4) };
  const deltas = [append(3, v(2), ['old']), append(6, v(5), [{ n: 200 }], 200), append(7, v(6), [{ n: 201 }, { n: 202 }], 200), append(10, v(9), ['gap'])];
  const here = composeItem(base, deltas);
  const there = await writer.compose(join(dir, 'b'), 'list', join(dir, 'tmp', 't1'), { bucketKey: 'b', itemKey: 'list', start: base, deltas }, true);
  assert.equal(there.applied, 2);
  assert.equal(there.before, null);
  assert.deepEqual(there.record, here.record);
  assert.equal(there.record!.payload.byteLength, there.record!.payload.buffer.byteLength, 'the payload is a buffer of its own');
  const file = await readFile(join(dir, 'b', 'list'));
  assert.deepEqual(file, encodeItemRecord(here.record!));
  assert.equal(there.fileBytes, file.byteLength);
  assert.deepEqual(decodeItemRecord(file, 'b/list').version, v(7));

  // No item and a tombstone compose as an empty list; the size of the file replaced comes back.
  const fromNothing = await writer.compose(join(dir, 'b'), 'list', join(dir, 'tmp', 't2'), { bucketKey: 'b', itemKey: 'list', start: undefined, deltas: [append(8, NO_VERSION, ['x'])] }, true);
  assert.deepEqual(itemCodec.unpack(fromNothing.record!.payload), ['x']);
  assert.equal(fromNothing.before, file.byteLength);
  const tombstone: ItemRecord = { ...whole(8, null), tombstone: true, payload: new Uint8Array(0) };
  const overTombstone = await writer.compose(join(dir, 'c'), 'list', join(dir, 'tmp', 't3'), { bucketKey: 'b', itemKey: 'list', start: tombstone, deltas: [append(9, v(8), ['y'])] }, false);
  assert.deepEqual(itemCodec.unpack(overTombstone.record!.payload), ['y']);

  // Nothing applies: nothing is written.
  const none = await writer.compose(join(dir, 'd'), 'list', join(dir, 'tmp', 't4'), { bucketKey: 'b', itemKey: 'list', start: base, deltas: [append(10, v(9), ['gap'])] }, true);
  assert.deepEqual({ applied: none.applied, record: none.record }, { applied: 0, record: undefined });
  await assert.rejects(access(join(dir, 'd', 'list')));
  assert.deepEqual(await readdir(join(dir, 'tmp')), []);
});

test('a delta the thread cannot read fails its item alone (GREX_ERR_STORE_CORRUPT) and writes nothing', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'tmp'));
  const writer = new ItemFileWriter();
  t.after(() => writer.close());
  const broken: ItemRecord = { ...append(2, v(1), ['a']), payload: Buffer.from([9, 9, 9]) };
  const [bad, good] = await Promise.allSettled([
    writer.compose(join(dir, 'b'), 'bad', join(dir, 'tmp', 't1'), { bucketKey: 'b', itemKey: 'bad', start: whole(1, []), deltas: [broken] }, false),
    writer.compose(join(dir, 'b'), 'good', join(dir, 'tmp', 't2'), { bucketKey: 'b', itemKey: 'good', start: whole(1, []), deltas: [append(2, v(1), ['a'])] }, false),
  ]);
  assert.equal(bad.status, 'rejected');
  assert.equal(((bad as PromiseRejectedResult).reason as NodeJS.ErrnoException).code, 'GREX_ERR_STORE_CORRUPT');
  assert.equal(good.status, 'fulfilled');
  assert.deepEqual(await readdir(join(dir, 'b')), ['good']);
  assert.deepEqual(await readdir(join(dir, 'tmp')), []);
});
