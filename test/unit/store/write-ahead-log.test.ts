// The write-ahead log: commit records (torn tails detected), group commit, segment
// rotation and removal, and a log that refuses appends once it cannot be trusted.
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { appendFile, cp, mkdir, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { encodeItemRecord, type ItemRecord } from '../../../src/store/item-record.js';
import { decodeWalCommit, encodeWalCommit, encodeWalCommitParts } from '../../../src/store/wal-record.js';
import { PREALLOCATE_BYTES, WriteAheadLog, type ReplayedSegment } from '../../../src/store/write-ahead-log.js';
import { tempDir } from '../../helpers/temp-dir.js';

function record(itemKey: string, seq: number, size = 10): ItemRecord {
  return { bucketKey: 'b', itemKey, version: { term: 1, seq }, tombstone: false, encoding: 'raw', payload: new Uint8Array(size).fill(seq & 0xff) };
}

/** A large payload of every byte value (sent from its own buffer, not gathered). */
function bigRecord(itemKey: string, seq: number, size = 800_000): ItemRecord {
  return { ...record(itemKey, seq, 0), encoding: 'msgpack', payload: Buffer.from(Array.from({ length: size }, (_, i) => (i * 131 + seq) & 0xff)) };
}

/** A commit in the first log format ("GRXW", one CRC-32 over the whole body), as nodes before it wrote them. */
function wholeChecksumCommit(flock: number, records: readonly ItemRecord[]): Buffer {
  const encoded = records.map(encodeItemRecord);
  const body = Buffer.alloc(8 + encoded.reduce((n, r) => n + 4 + r.length, 0));
  body.writeUInt32LE(flock, 0);
  body.writeUInt32LE(encoded.length, 4);
  let at = 8;
  for (const r of encoded) {
    body.writeUInt32LE(r.length, at);
    r.copy(body, at + 4);
    at += 4 + r.length;
  }
  const header = Buffer.alloc(12);
  header.writeUInt32LE(0x57585247, 0);
  header.writeUInt32LE(body.length, 4);
  header.writeUInt32LE(crc32(body), 8);
  return Buffer.concat([header, body]);
}

async function replayAll(wal: WriteAheadLog): Promise<ReplayedSegment[]> {
  const segments: ReplayedSegment[] = [];
  for await (const segment of wal.replay()) segments.push(segment);
  return segments;
}

describe('WAL commit records', () => {
  test('round trip of a multi-item commit, tombstones included', () => {
    const records = [record('a', 1), { ...record('b', 2, 0), tombstone: true }, record('c', 3, 5000)];
    const bytes = encodeWalCommit(42, records);
    const result = decodeWalCommit(bytes, 0, 'test');
    assert.equal(result.kind, 'commit');
    if (result.kind !== 'commit') return;
    assert.equal(result.commit.flock, 42);
    assert.deepEqual(result.commit.records.map((r) => [r.itemKey, r.version.seq, r.tombstone, r.payload.length]), [
      ['a', 1, false, 10],
      ['b', 2, true, 0],
      ['c', 3, false, 5000],
    ]);
    assert.equal(result.next, bytes.length);
  });

  test('every truncation and every flipped byte is a torn commit, never a commit', () => {
    const bytes = encodeWalCommit(7, [record('a', 1), record('b', 2)]);
    for (let length = 1; length < bytes.length; length++) {
      assert.equal(decodeWalCommit(bytes.subarray(0, length), 0, 't').kind, 'torn', `length ${length}`);
    }
    for (let i = 0; i < bytes.length; i++) {
      const copy = Buffer.from(bytes);
      copy[i]! ^= 0x01;
      assert.equal(decodeWalCommit(copy, 0, 't').kind, 'torn', `byte ${i}`);
    }
  });
});

describe('WAL commits with large payloads', () => {
  test('the parts are the commit byte for byte, large payloads passed as they are (not copied)', () => {
    const records = [record('a', 1), bigRecord('big', 2), { ...record('t', 3, 0), tombstone: true }, bigRecord('big2', 4, 20_000), record('z', 5, 100)];
    const parts = encodeWalCommitParts(9, records);
    assert.ok(parts.includes(records[1]!.payload) && parts.includes(records[3]!.payload), 'large payloads are parts of their own');
    const bytes = encodeWalCommit(9, records);
    assert.deepEqual(Buffer.concat(parts), bytes);
    const result = decodeWalCommit(bytes, 0, 'test');
    assert.equal(result.kind, 'commit');
    if (result.kind !== 'commit') return;
    assert.equal(result.commit.flock, 9);
    assert.deepEqual(
      result.commit.records.map((r) => encodeItemRecord(r)),
      records.map((r) => encodeItemRecord(r)),
    );
  });

  test('a flipped byte anywhere in a large payload makes the commit torn', () => {
    const bytes = encodeWalCommit(1, [record('a', 1), bigRecord('big', 2, 50_000)]);
    for (const i of [bytes.length - 1, bytes.length - 25_000, bytes.length - 49_999]) {
      const copy = Buffer.from(bytes);
      copy[i]! ^= 0x40;
      const result = decodeWalCommit(copy, 0, 't');
      assert.equal(result.kind, 'torn', `byte ${i}`);
    }
  });

  test('commits of the first format (one checksum over the whole body) are still read', () => {
    const records = [record('a', 1), bigRecord('big', 2, 30_000)];
    const old = wholeChecksumCommit(3, records);
    const result = decodeWalCommit(Buffer.concat([old, encodeWalCommit(4, [record('b', 5)])]), 0, 'old');
    assert.equal(result.kind, 'commit');
    if (result.kind !== 'commit') return;
    assert.equal(result.commit.flock, 3);
    assert.deepEqual(result.commit.records.map((r) => encodeItemRecord(r)), records.map((r) => encodeItemRecord(r)));
    assert.equal(result.next, old.length);
    const copy = Buffer.from(old);
    copy[old.length - 10]! ^= 1;
    assert.equal(decodeWalCommit(copy, 0, 'old').kind, 'torn');
  });

  test('zero bytes to the end of a segment are its end (the preallocated tail); zeros followed by anything else are torn', () => {
    const commit = encodeWalCommit(1, [record('a', 1)]);
    const tail = Buffer.concat([commit, Buffer.alloc(4096)]);
    assert.deepEqual(decodeWalCommit(tail, commit.length, 'tail'), { kind: 'end' });
    assert.deepEqual(decodeWalCommit(Buffer.concat([commit, Buffer.alloc(5)]), commit.length, 'short tail'), { kind: 'end' });
    // A batch whose first page never reached the disk, and a later page did: not an end, the rest is not trusted either.
    const hole = Buffer.concat([commit, Buffer.alloc(4096), encodeWalCommit(1, [record('a', 2)])]);
    assert.equal(decodeWalCommit(hole, commit.length, 'hole').kind, 'torn');
  });

  test('large commits appended in parts replay byte for byte, after old-format ones', async (t) => {
    const dir = await tempDir(t);
    const first = new WriteAheadLog({ dir, fsync: 'always' });
    await first.start();
    await first.close();
    const [name] = await readdir(dir);
    await appendFile(join(dir, name!), wholeChecksumCommit(0, [record('old', 1)]));
    const wal = new WriteAheadLog({ dir, fsync: 'always' });
    await wal.start();
    const written = Array.from({ length: 6 }, (_, i) => [bigRecord(`big${i % 3}`, i + 2, 300_000 + i), record('small', i + 2)]);
    await Promise.all(written.map((records, i) => wal.append(encodeWalCommitParts(i + 1, records))));
    await wal.close();
    const commits = (await replayAll(new WriteAheadLog({ dir, fsync: 'always' }))).flatMap((s) => {
      assert.equal(s.tornAt, undefined);
      return s.commits;
    });
    assert.deepEqual(commits.map((c) => c.flock), [0, 1, 2, 3, 4, 5, 6]);
    for (const commit of commits.slice(1)) {
      assert.deepEqual(commit.records.map((r) => encodeItemRecord(r)), written[commit.flock - 1]!.map((r) => encodeItemRecord(r)));
    }
  });
});

describe('WriteAheadLog', () => {
  test('concurrent appends are all durable and replay in order', async (t) => {
    const dir = await tempDir(t);
    const wal = new WriteAheadLog({ dir, fsync: 'always' });
    await wal.start();
    await Promise.all(Array.from({ length: 100 }, (_, i) => wal.append(encodeWalCommit(i, [record(`k${i}`, i + 1)]))));
    await wal.close();
    const reopened = new WriteAheadLog({ dir, fsync: 'always' });
    const segments = await replayAll(reopened);
    const flocks = segments.flatMap((s) => s.commits.map((c) => c.flock));
    assert.equal(flocks.length, 100);
    assert.deepEqual([...flocks].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  });

  test('with fsync always a segment is written with O_DSYNC (each batch durable when its write returns); with never, not', async (t) => {
    // The open flags of the segment's descriptor, from /proc (Linux only: elsewhere the log falls back to fdatasync).
    if (process.platform !== 'linux') return; // CI and this machine are Linux
    const segmentFlags = async (dir: string): Promise<number> => {
      const [name] = await readdir(dir);
      for (const fd of await readdir('/proc/self/fd')) {
        const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
        if (target === join(dir, name!)) return parseInt(/flags:\s+(\d+)/.exec(await readFile(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
      }
      throw new Error(`no open descriptor of ${name}`);
    };
    for (const fsync of ['always', 'never'] as const) {
      const dir = await tempDir(t);
      const wal = new WriteAheadLog({ dir, fsync });
      await wal.start();
      await wal.append(encodeWalCommit(1, [record('a', 1)]));
      const flags = await segmentFlags(dir);
      await wal.close();
      assert.equal((flags & constants.O_DSYNC) !== 0, fsync === 'always', `fsync ${fsync}: flags ${flags.toString(8)}`);
      assert.equal(flags & 3, constants.O_WRONLY); // O_ACCMODE: write-only
    }
  });

  test('with fsync always the open segment is grown ahead of its appends, so small appends leave its size alone; a crash leaves zeros that replay reads as the end', async (t) => {
    const dir = await tempDir(t);
    const wal = new WriteAheadLog({ dir, fsync: 'always' });
    await wal.start();
    const segment = join(dir, (await readdir(dir))[0]!);
    let written = 0;
    const sizes = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const bytes = encodeWalCommit(1, [record('a', i + 1, 1000)]);
      await wal.append(bytes);
      written += bytes.length;
      sizes.add((await stat(segment)).size);
    }
    assert.deepEqual([...sizes], [PREALLOCATE_BYTES + encodeWalCommit(1, [record('a', 1, 1000)]).length]);
    // Past the preallocated bytes, it grows again (once).
    const big = encodeWalCommit(1, [record('b', 51, PREALLOCATE_BYTES / 8)]);
    for (let i = 0; i < 8; i++) await wal.append(big);
    written += 8 * big.length;
    assert.ok((await stat(segment)).size > written);
    // The segment as a crash (no close) leaves it: every acknowledged commit replays, nothing is reported torn.
    const crashed = await tempDir(t);
    await cp(dir, crashed, { recursive: true });
    const replayed = await replayAll(new WriteAheadLog({ dir: crashed, fsync: 'always' }));
    assert.equal(replayed.length, 1);
    assert.equal(replayed[0]!.tornAt, undefined);
    assert.deepEqual(replayed[0]!.commits.map((c) => c.records[0]!.version.seq), [...Array.from({ length: 50 }, (_, i) => i + 1), ...Array(8).fill(51)]);
    // Closed, the segment is as long as its commits.
    await wal.close();
    assert.equal((await stat(segment)).size, written);
  });

  test('a segment closed by rotation loses its preallocated zeros', async (t) => {
    const dir = await tempDir(t);
    const wal = new WriteAheadLog({ dir, fsync: 'always', segmentBytes: 2000 });
    await wal.start();
    const bytes = encodeWalCommit(1, [record('a', 1, 300)]);
    for (let i = 0; i < 10; i++) await wal.append(bytes);
    const closed = (await wal.segments()).filter((id) => id !== wal.currentSegment);
    assert.ok(closed.length >= 1);
    for (const id of closed) {
      const size = (await stat(join(dir, `${String(id).padStart(16, '0')}.wal`))).size;
      assert.equal(size % bytes.length, 0, `segment ${id}: ${size} bytes`);
      assert.ok(size >= 2000 && size < 2000 + bytes.length, `segment ${id}: ${size} bytes`);
    }
    await wal.close();
  });

  test('a large batch extends the segment in its own write; with fsync never nothing is grown ahead', async (t) => {
    const dir = await tempDir(t);
    const wal = new WriteAheadLog({ dir, fsync: 'always' });
    await wal.start();
    const segment = join(dir, (await readdir(dir))[0]!);
    const big = encodeWalCommit(1, [record('b', 1, PREALLOCATE_BYTES)]);
    await wal.append(big);
    assert.equal((await stat(segment)).size, big.length);
    await wal.close();
    const lazy = await tempDir(t);
    const unsynced = new WriteAheadLog({ dir: lazy, fsync: 'never' });
    await unsynced.start();
    const small = encodeWalCommit(1, [record('a', 1)]);
    await unsynced.append(small);
    assert.equal((await stat(join(lazy, (await readdir(lazy))[0]!))).size, small.length);
    await unsynced.close();
  });

  test('segments rotate at segmentBytes and are removed oldest first, never the current one', async (t) => {
    const dir = await tempDir(t);
    const wal = new WriteAheadLog({ dir, fsync: 'never', segmentBytes: 1000 });
    await wal.start();
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) ids.push(await wal.append(encodeWalCommit(0, [record('x', i + 1, 200)])));
    assert.ok(new Set(ids).size > 3, `appends went to segments ${ids}`);
    const current = wal.currentSegment;
    await wal.removeThrough(current);
    // Everything up to `current` is gone, except the segment appends go to now.
    assert.deepEqual(await wal.segments(), [wal.currentSegment]);
    assert.ok(wal.currentSegment >= current);
    await wal.close();
  });

  test('replay stops at a torn tail and keeps what came before', async (t) => {
    const dir = await tempDir(t);
    const wal = new WriteAheadLog({ dir, fsync: 'always' });
    await wal.start();
    await wal.append(encodeWalCommit(1, [record('a', 1)]));
    await wal.append(encodeWalCommit(1, [record('a', 2)]));
    await wal.close();
    const [name] = await readdir(dir);
    const third = encodeWalCommit(1, [record('a', 3)]);
    await appendFile(join(dir, name!), third.subarray(0, third.length - 3)); // a crash mid-append
    const segments = await replayAll(new WriteAheadLog({ dir, fsync: 'always' }));
    assert.equal(segments.length, 1);
    assert.deepEqual(segments[0]!.commits.map((c) => c.records[0]!.version.seq), [1, 2]);
    assert.ok(segments[0]!.tornAt !== undefined);
  });

  test('a new start appends after every existing segment', async (t) => {
    const dir = await tempDir(t);
    const first = new WriteAheadLog({ dir, fsync: 'never' });
    await first.start();
    const a = await first.append(encodeWalCommit(0, [record('a', 1)]));
    await first.close();
    const second = new WriteAheadLog({ dir, fsync: 'never' });
    await second.start();
    assert.ok(second.currentSegment > a);
    await second.close();
  });

  test('when a new segment cannot be created, later appends fail with GREX_ERR_STORE_IO and nothing is acknowledged', async (t) => {
    const dir = await tempDir(t);
    const wal = new WriteAheadLog({ dir, fsync: 'never', segmentBytes: 100 });
    await wal.start();
    // Something already occupies the next segment's name.
    await mkdir(join(dir, `${String(wal.currentSegment + 1).padStart(16, '0')}.wal`));
    await wal.append(encodeWalCommit(0, [record('a', 1, 200)])); // fills the segment; the switch fails
    await assert.rejects(wal.append(encodeWalCommit(0, [record('a', 2)])), { code: 'GREX_ERR_STORE_IO' });
    await assert.rejects(wal.append(encodeWalCommit(0, [record('a', 3)])), { code: 'GREX_ERR_STORE_IO' });
    await wal.close();
  });
});
