// Appends survive SIGKILL exactly: a writer appending to a list item through the
// write-ahead log (deltas, now and then the whole list; item files written behind
// the log and checkpoints removing segments all the time) is killed again and
// again; after each kill, replay gives the list of the last acknowledged round or
// the next one, byte for byte the item the live store held, and a second replay
// gives the same.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { itemCodec } from '../../src/codec.js';
import { DELTA_BUCKET, DELTA_FLOCK, DELTA_ITEM, expectedList, openDeltaStore } from '../fixtures/delta-writer.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runWriterUntilKilled } from '../helpers/kill-writer.js';

const writer = fileURLToPath(new URL('../fixtures/delta-writer.js', import.meta.url));

async function recovered(dir: string): Promise<{ round: number; bytes: Buffer }> {
  const store = openDeltaStore(dir);
  await store.open();
  try {
    const record = await store.read(DELTA_FLOCK, DELTA_BUCKET, DELTA_ITEM);
    return { round: record?.version.seq ?? 0, bytes: Buffer.from(record?.payload ?? []) };
  } finally {
    await store.close();
  }
}

describe('appends under SIGKILL', () => {
  test('after every kill, replay gives the list of the last acknowledged round or the next, byte for byte', async (t) => {
    const dir = await tempDir(t);
    let lastAck = 0;
    for (let kill = 0; kill < 8; kill++) {
      // Vary how long it runs, so kills land in appends, item-file writes and checkpoints.
      const acks = await runWriterUntilKilled(t, writer, dir, 20 + ((kill * 53) % 120));
      lastAck = Math.max(lastAck, acks.at(-1) ?? lastAck);

      const { round, bytes } = await recovered(dir);
      assert.ok(round === lastAck || round === lastAck + 1, `round ${round} after the last acknowledged ${lastAck}`);
      assert.deepEqual(bytes, Buffer.from(itemCodec.pack(expectedList(round))), `the list of round ${round}`);
      assert.deepEqual(await recovered(dir), { round, bytes }, 'a second replay gives the same item');
      lastAck = round;
    }
  });
});
