// Crash safety of the filesystem store: a writer process (fixtures/store-writer.ts)
// is SIGKILLed mid-stream, again and again on the same folder; after each kill a
// new FsBackend takes over the dead writer's LOCK and every item must read back
// uncorrupted, at the last acknowledged version or the one in flight (never
// older, never torn), with exactly that version's payload.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FsBackend } from '../../src/store/fs-backend.js';
import { compareVersions, formatVersion, parseVersion, type Version } from '../../src/store/version.js';
import { CRASH_BUCKET, CRASH_FLOCK, CRASH_ITEMS, payloadFor } from '../fixtures/store-writer.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const writerPath = fileURLToPath(new URL('../fixtures/store-writer.js', import.meta.url));

/** Acknowledged writes to wait for before each kill: small and larger, so kills land at different points. */
const ACKS_PER_ROUND = [1, 2, 4, 7, 3, 12, 5, 20];

interface Writer {
  child: ChildProcess;
  /** Last acknowledged version per item index. */
  acked: Map<number, Version>;
  /** The seqs the writer found on disk when it started. */
  ready: number[] | undefined;
  acks: number;
  exited: boolean;
  stderr: string;
  /** Lines that broke the writer's protocol (checked by the test, not thrown from a stream handler). */
  problems: string[];
  closed: Promise<unknown>;
}

function startWriter(dir: string, term: number): Writer {
  const child = spawn(process.execPath, [writerPath, dir, String(term)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const writer: Writer = { child, acked: new Map(), ready: undefined, acks: 0, exited: false, stderr: '', problems: [], closed: once(child, 'close') };
  child.on('exit', () => {
    writer.exited = true;
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    writer.stderr += text;
  });
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      const [kind, ...rest] = line.split(' ');
      if (kind === 'ready') {
        writer.ready = rest.map(Number);
      } else if (kind === 'ack') {
        const index = Number(rest[0]);
        const version = parseVersion(rest[1] ?? '');
        const previous = writer.acked.get(index);
        if (version === null || !(index in CRASH_ITEMS)) {
          writer.problems.push(`bad line: ${line}`);
        } else if (previous !== undefined && version.seq !== previous.seq + 1) {
          writer.problems.push(`acks of item ${index} out of order: ${line} after ${formatVersion(previous)}`);
        } else {
          writer.acked.set(index, version);
          writer.acks++;
        }
      } else {
        writer.problems.push(`unexpected line: ${line}`);
      }
    }
  });
  return writer;
}

describe('FsBackend survives SIGKILL of its writer', () => {
  test('after each kill every item reads back whole, at its last acknowledged version or the next one, with that payload', async (t) => {
    const dir = await tempDir(t, 'grex-crash-');
    const writers: Writer[] = [];
    t.after(async () => {
      for (const w of writers) {
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
        await w.closed;
      }
    });

    /** What the previous check found on disk, per item index. */
    const onDisk = new Map<number, Version>();
    let inFlightSeen = 0;

    for (const [round, target] of ACKS_PER_ROUND.entries()) {
      const term = round + 1;
      const writer = startWriter(dir, term);
      writers.push(writer);
      await waitFor(() => writer.exited || writer.acks >= target, {
        timeoutMs: 120_000,
        what: `round ${term}: ${target} acknowledged writes (have ${writer.acks})`,
      });
      assert.equal(writer.exited, false, `round ${term}: the writer exited early: ${writer.stderr}`);
      writer.child.kill('SIGKILL');
      await writer.closed; // every line the writer printed has been read
      assert.equal(writer.child.signalCode, 'SIGKILL', writer.stderr);
      assert.deepEqual(writer.problems, [], `round ${term}: the writer's output`);
      assert.deepEqual(writer.ready, CRASH_ITEMS.map((_, i) => onDisk.get(i)?.seq ?? 0), `round ${term}: what the writer found at start`);

      // The dead writer's LOCK is stale: a new backend takes it over and clears its temp files.
      assert.equal((await readFile(`${dir}/LOCK`, 'utf8')).trim(), String(writer.child.pid));
      const backend = new FsBackend({ dir, fsync: 'always' });
      await backend.open();
      try {
        assert.equal((await readFile(`${dir}/LOCK`, 'utf8')).trim(), String(process.pid));
        assert.deepEqual(await readdir(`${dir}/tmp`), []);
        for (const [index, itemKey] of CRASH_ITEMS.entries()) {
          const where = `round ${term}, item ${index}`;
          const floor = writer.acked.get(index) ?? onDisk.get(index);
          const record = await backend.read(CRASH_FLOCK, CRASH_BUCKET, itemKey); // throws if corrupt
          const next: Version = { term, seq: (floor?.seq ?? 0) + 1 };
          if (record === undefined) {
            assert.equal(floor, undefined, `${where}: acknowledged ${floor && formatVersion(floor)} but the item is gone`);
            continue;
          }
          const found = record.version;
          const isFloor = floor !== undefined && compareVersions(found, floor) === 0;
          const isNext = compareVersions(found, next) === 0;
          assert.ok(
            isFloor || isNext,
            `${where}: found ${formatVersion(found)}, expected ${floor ? formatVersion(floor) + ' or ' : ''}${formatVersion(next)}`,
          );
          if (isNext) inFlightSeen++;
          assert.equal(record.tombstone, false, where);
          assert.equal(record.encoding, 'raw', where);
          assert.ok(Buffer.from(record.payload).equals(payloadFor(index, found)), `${where}: payload of ${formatVersion(found)} does not match`);
          onDisk.set(index, found);
        }
        const headers = await backend.list(CRASH_FLOCK, CRASH_BUCKET);
        assert.deepEqual(
          headers.map((h) => `${h.itemKey} ${formatVersion(h.version)} ${h.size}`).sort(),
          [...onDisk].map(([i, v]) => `${CRASH_ITEMS[i]} ${formatVersion(v)} ${payloadFor(i, v).length}`).sort(),
        );
      } finally {
        await backend.close();
      }
    }
    // Every item was written at least once over the rounds.
    assert.equal(onDisk.size, CRASH_ITEMS.length);
    t.diagnostic(`${ACKS_PER_ROUND.length} kills; ${inFlightSeen} items found at their unacknowledged in-flight version`);
  });
});
