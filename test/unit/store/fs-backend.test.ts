// The filesystem backend beyond the shared contract: the on-disk layout, hostile
// keys never leaving <dir>/flocks/<flock>/, corruption on disk reported as
// GREX_ERR_STORE_CORRUPT, stray temp files, the LOCK file (same process, dead
// and live owners), persistence across reopen; and ItemStore over it
// (live reads and listings, flock metadata and its corruption).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, lstat, mkdir, readdir, readFile, realpath, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { GrexError, type ErrorCode } from '../../../src/errors.js';
import { FILESYSTEM_SYNC_MIN_ITEMS, FsBackend } from '../../../src/store/fs-backend.js';
import { decodeItemRecord, encodeItemRecord, HEADER_FIXED_BYTES, type ItemRecord } from '../../../src/store/item-record.js';
import { ItemStore } from '../../../src/store/item-store.js';
import { encodeKeyName } from '../../../src/store/key-names.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { headerOf, plain, record, version } from './backend-contract.js';

function grexError(code: ErrorCode) {
  return (err: unknown): true => {
    assert.ok(err instanceof GrexError, `expected a GrexError ${code}, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

async function opened(t: TestContext, dir: string, fsync: 'always' | 'never' = 'always'): Promise<FsBackend> {
  const backend = new FsBackend({ dir, fsync });
  await backend.open();
  t.after(() => backend.close());
  return backend;
}

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of iterable) out.push(key);
  return out;
}

interface Entry {
  path: string;
  kind: 'dir' | 'file' | 'symlink' | 'other';
}

/** Every entry under `root` (not following symlinks). */
async function walk(root: string): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const name of await readdir(root)) {
    const path = join(root, name);
    const info = await lstat(path);
    const kind = info.isSymbolicLink() ? 'symlink' : info.isDirectory() ? 'dir' : info.isFile() ? 'file' : 'other';
    out.push({ path, kind });
    if (kind === 'dir') out.push(...(await walk(path)));
  }
  return out;
}

function itemPath(dir: string, flock: number, bucketKey: string, itemKey: string): string {
  return join(dir, 'flocks', String(flock), encodeKeyName(bucketKey), encodeKeyName(itemKey));
}

/** A pid that belonged to a process which has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid;
  assert.ok(pid !== undefined);
  await once(child, 'exit');
  return pid;
}

/** A child process that stays alive until the test ends. */
function liveChild(t: TestContext): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  });
  return child;
}

describe('FsBackend on disk', () => {
  test('an item is stored at <dir>/flocks/<flock>/<encoded bucket>/<encoded item> and that file decodes to the record', async (t) => {
    const dir = await tempDir(t);
    const backend = await opened(t, dir);
    const records = [
      record('users', 'alice', version(1, 1), 'alice payload'),
      record('Users/42', '../Bob', version(1, 2), 'bob payload'),
      record('é'.repeat(128), '😀'.repeat(64), version(2, 3), 'long keys'),
    ];
    await backend.write(5, records);
    await backend.writeFlockMeta(5, Buffer.from('meta'));
    for (const r of records) {
      const bytes = await readFile(itemPath(dir, 5, r.bucketKey, r.itemKey));
      assert.deepEqual(plain(decodeItemRecord(bytes, 'file')), plain(r));
      assert.deepEqual(bytes, encodeItemRecord(r));
    }
    assert.equal(encodeKeyName('users'), 'users');
    assert.ok((await stat(join(dir, 'flocks', '5', 'users', 'alice'))).isFile());
    assert.ok((await stat(join(dir, 'flocks', '5', '%55sers%2F42', '%2E.%2F%42ob'))).isFile());
    assert.deepEqual(await readFile(join(dir, 'flocks', '5', '.flock')), Buffer.from('meta'));
  });

  test("while open the LOCK file holds this process's pid, close() removes it, and tmp/ holds no leftovers", async (t) => {
    const dir = await tempDir(t);
    const backend = new FsBackend({ dir });
    await backend.open();
    try {
      assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid));
      await backend.write(1, [record('b', 'i', version(1, 1), Buffer.alloc(200_000, 3)), record('b', 'j', version(1, 2))]);
      await backend.writeFlockMeta(1, Buffer.from('m'));
      assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    } finally {
      await backend.close();
    }
    await assert.rejects(readFile(join(dir, 'LOCK')), { code: 'ENOENT' });
  });

  test("the default fsync policy is 'always'", () => {
    assert.equal(new FsBackend({ dir: '/nonexistent' }).fsync, 'always');
  });

  test('records, tombstones and flock metadata written before close() are read back by a new backend', async (t) => {
    const dir = await tempDir(t);
    const live = record('b', 'live', version(3, 4), Buffer.alloc(70_000, 0xab), { encoding: 'msgpack' });
    const dead = record('b', 'dead', version(3, 5), '', { tombstone: true });
    const long = record('x'.repeat(256), 'y'.repeat(256), version(3, 6));
    const first = new FsBackend({ dir });
    await first.open();
    await first.write(9, [live, dead, long]);
    await first.writeFlockMeta(9, Buffer.from('term 3'));
    await first.close();

    const second = await opened(t, dir);
    for (const r of [live, dead, long]) assert.deepEqual(plain(await second.read(9, r.bucketKey, r.itemKey)), plain(r));
    const headers = (await second.list(9, 'b')).map((h) => ({ ...h })).sort((a, b) => a.itemKey.localeCompare(b.itemKey));
    assert.deepEqual(headers, [headerOf(dead), headerOf(live)]);
    assert.deepEqual((await collect(second.buckets(9))).sort(), ['b', 'x'.repeat(256)]);
    assert.deepEqual(Buffer.from((await second.readFlockMeta(9))!), Buffer.from('term 3'));
  });

  test('removing the last item of a bucket removes its folder', async (t) => {
    const dir = await tempDir(t);
    const backend = await opened(t, dir);
    await backend.write(2, [record('b', 'x', version(1, 1)), record('b', 'y', version(1, 2))]);
    await backend.remove(2, 'b', 'x');
    assert.deepEqual(await readdir(join(dir, 'flocks', '2', 'b')), ['y']);
    await backend.remove(2, 'b', 'y');
    assert.deepEqual(await readdir(join(dir, 'flocks', '2')), []);
  });

  test('foreign files and folders in a flock folder are not taken for buckets', async (t) => {
    const dir = await tempDir(t);
    const backend = await opened(t, dir);
    await backend.write(4, [record('real', 'x', version(1, 1)), record('A', 'x', version(1, 2))]);
    const flockDir = join(dir, 'flocks', '4');
    await writeFile(join(flockDir, 'README'), 'not a bucket');
    await writeFile(join(flockDir, '.DS_Store'), 'not a bucket');
    // A folder named "A" (the canonical name of bucket "A" is "%41") holding a valid record of bucket "A".
    await mkdir(join(flockDir, 'A'));
    await writeFile(join(flockDir, 'A', 'x'), encodeItemRecord(record('A', 'x', version(1, 3))));
    // A folder with a hashed-looking name holding garbage.
    await mkdir(join(flockDir, '~' + '0'.repeat(64)));
    await writeFile(join(flockDir, '~' + '0'.repeat(64), 'junk'), 'garbage');
    assert.deepEqual((await collect(backend.buckets(4))).sort(), ['A', 'real']);
    assert.deepEqual(plain(await backend.read(4, 'A', 'x')), plain(record('A', 'x', version(1, 2))));
  });
});

describe('FsBackend sync of a checkpoint', () => {
  // One item's file is replaced by a symlink to itself: syncing it file by file fails (ELOOP),
  // so whether sync() went file by file is seen from the outside.
  async function backendWith(t: TestContext, items: number, syncFs: (path: string) => Promise<boolean>) {
    const dir = await tempDir(t);
    const backend = new FsBackend({ dir, fsync: 'always', filesystemSync: syncFs });
    await backend.open();
    t.after(() => backend.close());
    const refs = Array.from({ length: items }, (_, i) => ({ flock: 3, bucketKey: 'b', itemKey: `i${i}` }));
    await backend.write(3, refs.map((r, i) => record(r.bucketKey, r.itemKey, version(1, i + 1))), { durable: false });
    const first = join(dir, 'flocks', '3', encodeKeyName('b'), encodeKeyName('i0'));
    await rm(first);
    await symlink(first, first);
    return { dir, backend, refs };
  }

  test(`from ${FILESYSTEM_SYNC_MIN_ITEMS} items on, the filesystem is synced once instead of each file; below, file by file`, async (t) => {
    const calls: string[] = [];
    const syncFs = async (path: string) => (calls.push(path), true);
    const many = await backendWith(t, FILESYSTEM_SYNC_MIN_ITEMS, syncFs);
    await many.backend.sync(many.refs);
    assert.deepEqual(calls, [join(many.dir, 'flocks')]);
    calls.length = 0;
    const few = await backendWith(t, FILESYSTEM_SYNC_MIN_ITEMS - 1, syncFs);
    await assert.rejects(few.backend.sync(few.refs), grexError('GREX_ERR_STORE_IO'));
    assert.deepEqual(calls, []);
  });

  test('when the filesystem cannot be synced at once, every file is synced on its own (and its error reported)', async (t) => {
    const { backend, refs } = await backendWith(t, FILESYSTEM_SYNC_MIN_ITEMS, async () => false);
    await assert.rejects(backend.sync(refs), grexError('GREX_ERR_STORE_IO'));
  });
});

describe('FsBackend with hostile keys', () => {
  const hostile = [
    '../../x',
    '..',
    '.',
    '/',
    '/etc/passwd',
    '../..',
    'a/../../b',
    '../../../../../../../../../tmp/grex-escape',
    '..\\..\\x',
    '%2F..%2F..',
    '~',
    '.flock',
    'LOCK',
    'tmp',
    '../tmp',
    'flocks',
    '\n',
    'x'.repeat(256),
  ];

  test('every file created for hostile bucket and item keys stays inside <dir>/flocks/<flock>/', async (t) => {
    const base = await tempDir(t);
    const dir = join(base, 'a', 'b', 'data');
    await mkdir(dir, { recursive: true });
    const backend = await opened(t, dir);
    const records: ItemRecord[] = [];
    for (const bucketKey of hostile) for (const itemKey of hostile) records.push(record(bucketKey, itemKey, version(1, records.length + 1)));
    await backend.write(3, records);
    await backend.writeFlockMeta(3, Buffer.from('meta'));

    const flockDir = await realpath(join(dir, 'flocks', '3'));
    const realDir = await realpath(dir);
    const entries = await walk(await realpath(base));
    let items = 0;
    for (const entry of entries) {
      assert.notEqual(entry.kind, 'symlink', entry.path);
      assert.notEqual(entry.kind, 'other', entry.path);
      const real = await realpath(entry.path);
      if (entry.kind === 'dir') {
        // Only the folders leading to the data folder, its own folders, and one level of bucket folders.
        const allowed = [join(realDir, '..', '..'), join(realDir, '..'), realDir, join(realDir, 'flocks'), join(realDir, 'tmp'), flockDir];
        const isBucket = real.startsWith(flockDir + sep) && !relative(flockDir, real).includes(sep);
        assert.ok(allowed.includes(real) || isBucket, `unexpected folder ${real}`);
        continue;
      }
      if (real === join(realDir, 'LOCK') || real === join(flockDir, '.flock')) continue;
      assert.ok(real.startsWith(flockDir + sep), `file outside the flock folder: ${real}`);
      const parts = relative(flockDir, real).split(sep);
      assert.equal(parts.length, 2, `not <bucket>/<item>: ${real}`);
      assert.ok(!parts.some((p) => p === '.' || p === '..' || p === ''), real);
      items++;
    }
    assert.equal(items, records.length);

    for (const r of records) assert.deepEqual(plain(await backend.read(3, r.bucketKey, r.itemKey)), plain(r));
    assert.deepEqual((await collect(backend.buckets(3))).sort(), [...hostile].sort());
    for (const bucketKey of hostile) {
      assert.deepEqual((await backend.list(3, bucketKey)).map((h) => h.itemKey).sort(), [...hostile].sort(), bucketKey);
    }
    for (const r of records) await backend.remove(3, r.bucketKey, r.itemKey);
    assert.deepEqual(await readdir(flockDir), ['.flock']);
  });
});

describe('FsBackend and corruption on disk', () => {
  test('a flipped byte in an item file makes read() reject with GREX_ERR_STORE_CORRUPT', async (t) => {
    const dir = await tempDir(t);
    const backend = await opened(t, dir);
    for (const r of [record('bucket', 'item', version(2, 9), 'the payload of an item'), record('é'.repeat(128), '😀'.repeat(64), version(1, 1), Buffer.alloc(5000, 7))]) {
      await backend.write(6, [r]);
      const path = itemPath(dir, 6, r.bucketKey, r.itemKey);
      const good = await readFile(path);
      const keysEnd = HEADER_FIXED_BYTES + Buffer.byteLength(r.bucketKey) + Buffer.byteLength(r.itemKey);
      for (const position of [0, 4, 5, 7, 12, 17, 23, 25, 29, 33, HEADER_FIXED_BYTES, keysEnd - 1, keysEnd, keysEnd + 3, good.length - 1]) {
        const bad = Buffer.from(good);
        bad[position]! ^= 0x04;
        await writeFile(path, bad);
        await assert.rejects(backend.read(6, r.bucketKey, r.itemKey), grexError('GREX_ERR_STORE_CORRUPT'), `byte ${position}`);
      }
      await writeFile(path, good);
      assert.deepEqual(plain(await backend.read(6, r.bucketKey, r.itemKey)), plain(r));
    }
  });

  test('a truncated, emptied or garbage item file is reported as corrupt', async (t) => {
    const dir = await tempDir(t);
    const backend = await opened(t, dir);
    const r = record('b', 'i', version(1, 1), Buffer.alloc(10_000, 1));
    await backend.write(1, [r]);
    const path = itemPath(dir, 1, 'b', 'i');
    for (const length of [9_000, 100, HEADER_FIXED_BYTES, 10, 0]) {
      await backend.write(1, [r]);
      await truncate(path, length);
      await assert.rejects(backend.read(1, 'b', 'i'), grexError('GREX_ERR_STORE_CORRUPT'), `truncated to ${length}`);
    }
    await writeFile(path, 'not a record at all, just some text that is long enough');
    await assert.rejects(backend.read(1, 'b', 'i'), grexError('GREX_ERR_STORE_CORRUPT'));
  });

  test("an item file copied under another item's name is reported as corrupt by read and left out of list", async (t) => {
    const dir = await tempDir(t);
    const backend = await opened(t, dir);
    const x = record('b', 'x', version(1, 1), 'x payload');
    await backend.write(1, [x, record('b', 'y', version(1, 2), 'y payload'), record('c', 'x', version(1, 3))]);
    await copyFile(itemPath(dir, 1, 'b', 'x'), itemPath(dir, 1, 'b', 'y'));
    await copyFile(itemPath(dir, 1, 'b', 'x'), itemPath(dir, 1, 'c', 'x'));
    await assert.rejects(backend.read(1, 'b', 'y'), grexError('GREX_ERR_STORE_CORRUPT'));
    await assert.rejects(backend.read(1, 'c', 'x'), grexError('GREX_ERR_STORE_CORRUPT'));
    assert.deepEqual((await backend.list(1, 'b')).map((h) => ({ ...h })), [headerOf(x)]);
    assert.deepEqual(await backend.list(1, 'c'), []);
  });
});

describe('FsBackend open() and the LOCK file', () => {
  test('stray temp files in <dir>/tmp are removed by open(), and data stays', async (t) => {
    const dir = await tempDir(t);
    const first = new FsBackend({ dir });
    await first.open();
    const r = record('b', 'i', version(1, 1));
    await first.write(0, [r]);
    await first.close();
    await writeFile(join(dir, 'tmp', 'deadbeef-0'), 'half a record');
    await writeFile(join(dir, 'tmp', 'deadbeef-1'), Buffer.alloc(100_000));
    await mkdir(join(dir, 'tmp', 'nested'));
    await writeFile(join(dir, 'tmp', 'nested', 'x'), 'x');
    const second = await opened(t, dir);
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    assert.deepEqual(plain(await second.read(0, 'b', 'i')), plain(r));
  });

  test('open() of a folder that never had a backend removes temp files put there beforehand', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'tmp'));
    await writeFile(join(dir, 'tmp', 'stray'), 'x');
    await opened(t, dir);
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
  });

  test('a second FsBackend on the same folder in the same process is refused with GREX_ERR_DATA_LOCKED until the first is closed', async (t) => {
    const dir = await tempDir(t);
    const first = new FsBackend({ dir });
    await first.open();
    t.after(() => first.close());
    const r = record('b', 'i', version(1, 1));
    await first.write(0, [r]);
    await writeFile(join(dir, 'tmp', 'in-flight'), 'a write of the first backend');

    const second = new FsBackend({ dir });
    await assert.rejects(second.open(), grexError('GREX_ERR_DATA_LOCKED'));
    await assert.rejects(second.open(), grexError('GREX_ERR_DATA_LOCKED'));
    // The refused backend took nothing from the first one.
    assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid));
    assert.deepEqual(await readdir(join(dir, 'tmp')), ['in-flight']);
    await second.close(); // closing a backend that never opened must not release the first one's lock
    await assert.rejects(new FsBackend({ dir }).open(), grexError('GREX_ERR_DATA_LOCKED'));
    assert.deepEqual(plain(await first.read(0, 'b', 'i')), plain(r));

    await first.close();
    const third = await opened(t, dir);
    assert.deepEqual(plain(await third.read(0, 'b', 'i')), plain(r));
    assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid));
  });

  test('the same folder named another way (relative path, trailing slash, "..", a symlink) is refused too', async (t) => {
    const base = await tempDir(t);
    const dir = join(base, 'data');
    await mkdir(dir);
    await symlink(dir, join(base, 'link'));
    const first = await opened(t, dir);
    for (const spelling of [relative(process.cwd(), dir), dir + sep, join(dir, '..', 'data') + sep + '.', join(base, 'link')]) {
      const other = new FsBackend({ dir: spelling });
      await assert.rejects(other.open(), grexError('GREX_ERR_DATA_LOCKED'), spelling);
      await other.close();
      assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid), spelling);
    }
    await first.write(0, [record('b', 'i', version(1, 1))]);
    assert.ok((await first.read(0, 'b', 'i')) !== undefined);
  });

  test('a LOCK file left by a dead process is taken over', async (t) => {
    const dir = await tempDir(t);
    const pid = await deadPid();
    await writeFile(join(dir, 'LOCK'), String(pid));
    const backend = await opened(t, dir);
    assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid));
    await backend.write(0, [record('b', 'i', version(1, 1))]);
    assert.ok((await backend.read(0, 'b', 'i')) !== undefined);
  });

  test('a LOCK file of a live process refuses the folder with GREX_ERR_DATA_LOCKED and is left alone', async (t) => {
    const dir = await tempDir(t);
    const child = liveChild(t);
    assert.ok(child.pid !== undefined);
    await writeFile(join(dir, 'LOCK'), `${child.pid}\n`);
    const backend = new FsBackend({ dir });
    await assert.rejects(backend.open(), (err: unknown) => {
      grexError('GREX_ERR_DATA_LOCKED')(err);
      assert.equal((err as GrexError).data?.pid, child.pid);
      return true;
    });
    await backend.close();
    assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(child.pid));
  });
});

describe('ItemStore over FsBackend', () => {
  test('readLive and listLive hide tombstones; read shows them; listLive sorts by itemKey', async (t) => {
    const dir = await tempDir(t);
    const store = new ItemStore(new FsBackend({ dir }));
    await store.open();
    t.after(() => store.close());
    const a = record('b', 'a', version(1, 1), 'a');
    const c = record('b', 'c', version(1, 2), 'c');
    const upper = record('b', 'C', version(1, 3), 'C');
    const gone = record('b', 'gone', version(1, 4), '', { tombstone: true });
    await store.commit(2, [c, gone, a, upper]);
    assert.equal(await store.readLive(2, 'b', 'gone'), undefined);
    assert.equal((await store.read(2, 'b', 'gone'))?.tombstone, true);
    assert.deepEqual(plain(await store.readLive(2, 'b', 'a')), plain(a));
    assert.equal(await store.readLive(2, 'b', 'missing'), undefined);
    assert.deepEqual(
      (await store.listLive(2, 'b')).map((h) => ({ ...h })),
      [upper, a, c].map(headerOf),
    );
    await store.commit(2, [record('b', 'a', version(1, 5), '', { tombstone: true })]);
    assert.equal(await store.readLive(2, 'b', 'a'), undefined);
    assert.deepEqual((await store.listLive(2, 'b')).map((h) => h.itemKey), ['C', 'c']);
  });

  test('flock metadata reads back what was written, also after a reopen, and is absent until written', async (t) => {
    const dir = await tempDir(t);
    const store = new ItemStore(new FsBackend({ dir }));
    await store.open();
    assert.equal(await store.readFlockMeta(1), undefined);
    await store.writeFlockMeta(1, { term: 3, seqReserved: 1000 });
    await store.writeFlockMeta(2, { term: 0xffffffff, seqReserved: Number.MAX_SAFE_INTEGER });
    assert.deepEqual(await store.readFlockMeta(1), { term: 3, seqReserved: 1000 });
    await store.writeFlockMeta(1, { term: 4, seqReserved: 2000 });
    await store.close();

    const again = new ItemStore(new FsBackend({ dir }));
    await again.open();
    t.after(() => again.close());
    assert.deepEqual(await again.readFlockMeta(1), { term: 4, seqReserved: 2000 });
    assert.deepEqual(await again.readFlockMeta(2), { term: 0xffffffff, seqReserved: Number.MAX_SAFE_INTEGER });
    assert.equal(await again.readFlockMeta(3), undefined);
  });

  test('a corrupted .flock file (any byte flipped, truncated or emptied) gives GREX_ERR_STORE_CORRUPT', async (t) => {
    const dir = await tempDir(t);
    const store = new ItemStore(new FsBackend({ dir }));
    await store.open();
    t.after(() => store.close());
    await store.writeFlockMeta(7, { term: 12, seqReserved: 34567 });
    const path = join(dir, 'flocks', '7', '.flock');
    const good = await readFile(path);
    for (let position = 0; position < good.length; position++) {
      for (const mask of [0xff, 0x01]) {
        const bad = Buffer.from(good);
        bad[position]! ^= mask;
        await writeFile(path, bad);
        await assert.rejects(store.readFlockMeta(7), grexError('GREX_ERR_STORE_CORRUPT'), `byte ${position} ^ 0x${mask.toString(16)}`);
      }
    }
    for (const length of [0, 1, good.length - 2]) {
      await writeFile(path, good.subarray(0, length));
      await assert.rejects(store.readFlockMeta(7), grexError('GREX_ERR_STORE_CORRUPT'), `first ${length} bytes`);
    }
    await writeFile(path, good);
    assert.deepEqual(await store.readFlockMeta(7), { term: 12, seqReserved: 34567 });
  });
});
