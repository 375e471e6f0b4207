// A job's changes are stored all together or not at all: a writer committing three
// items per commit through the write-ahead log is SIGKILLed again and again; after
// each replay the three items are always from the same commit, at or after the last
// acknowledged one, with whole payloads.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { openWalStore, roundPayload, WAL_BUCKET, WAL_FLOCK, WAL_ITEMS } from '../fixtures/wal-writer.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runWriterUntilKilled } from '../helpers/kill-writer.js';

const writer = fileURLToPath(new URL('../fixtures/wal-writer.js', import.meta.url));

describe('write-ahead log under SIGKILL', () => {
  test('after every kill, replay gives all three items of one commit, never part of one', async (t) => {
    const dir = await tempDir(t);
    let lastAck = 0;
    for (let kill = 0; kill < 8; kill++) {
      // Vary how long it runs, so kills land in appends, applies and checkpoints.
      const acked = await runWriterUntilKilled(t, writer, dir, 5 + ((kill * 37) % 60));
      lastAck = Math.max(lastAck, acked.at(-1) ?? lastAck);

      const store = openWalStore(dir);
      await store.open();
      const records = await Promise.all(WAL_ITEMS.map((item) => store.read(WAL_FLOCK, WAL_BUCKET, item)));
      const rounds = records.map((r) => r?.version.seq);
      assert.ok(rounds.every((r) => r === rounds[0]), `items from different commits: ${rounds}`);
      const round = rounds[0]!;
      assert.ok(round >= lastAck, `round ${round} is older than the last acknowledged ${lastAck}`);
      assert.ok(round <= lastAck + 1, `round ${round} is beyond anything written (last ack ${lastAck})`);
      records.forEach((r, i) => assert.deepEqual(Buffer.from(r!.payload), roundPayload(WAL_ITEMS[i]!, round)));
      lastAck = round;
      await store.close();
    }
  });
});
