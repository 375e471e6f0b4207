// The write-ahead log: commit records (torn tails detected), group commit, segment
// rotation and removal, and a log that refuses appends once it cannot be trusted.
import assert from 'node:assert/strict';
import { appendFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ItemRecord } from '../../../src/store/item-record.js';
import { decodeWalCommit, encodeWalCommit } from '../../../src/store/wal-record.js';
import { WriteAheadLog, type ReplayedSegment } from '../../../src/store/write-ahead-log.js';
import { tempDir } from '../../helpers/temp-dir.js';

function record(itemKey: string, seq: number, size = 10): ItemRecord {
  return { bucketKey: 'b', itemKey, version: { term: 1, seq }, tombstone: false, encoding: 'raw', payload: new Uint8Array(size).fill(seq & 0xff) };
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
