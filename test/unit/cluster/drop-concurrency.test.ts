// A node drops the flocks it no longer needs several at a time (MAX_DROPS),
// not one after the other: with 768 flocks to drop (a node leaving a full
// farm), one at a time made the drops, not the copies, what a leave waited
// for. Each flock's metadata write "not herding" is held back here: more than
// one is waiting at once only if drops overlap.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBackend } from '../../../src/store/memory-backend.js';
import { gate } from '../../helpers/gate.js';
import { loneLeadership } from '../../helpers/lone-leadership.js';
import { waitFor } from '../../helpers/wait-for.js';

const FLOCKS = 8;
const HERDED = [1, 2, 3, 4, 5];

/** Holds back every metadata write that drops a flock (herding false) until `release` opens. */
class HeldDrops extends MemoryBackend {
  readonly release = gate();
  waiting = 0;
  override async writeFlockMeta(flock: number, bytes: Uint8Array): Promise<void> {
    if (!Buffer.from(bytes).toString('utf8').includes('"herding":true')) {
      this.waiting++;
      await this.release.promise;
    }
    return super.writeFlockMeta(flock, bytes);
  }
}

test('a node drops several flocks at once', async (t) => {
  const backend = new HeldDrops();
  const { leadership } = await loneLeadership({
    selfId: 'c',
    backend,
    before: async (clock) => {
      for (const flock of HERDED) await clock.setHerding(flock, true);
    },
    cluster: {
      flocks: FLOCKS,
      // Every flock is herded by a and b, its targets; c may drop all it herds.
      route: (flock: number) => ({ flock, herders: ['a', 'b'], learners: [], target: ['a', 'b'], active: 'a' }),
      mayDrop: (flock: number) => HERDED.includes(flock),
      isLive: () => true,
      linkTo: () => undefined,
      stateOf: () => 'alive',
    },
  });
  assert.equal(leadership.herdingCount, HERDED.length);
  leadership.start(10);
  t.after(() => leadership.stop());
  await waitFor(() => backend.waiting === HERDED.length, { what: `${HERDED.length} drops waiting at once` });
  backend.release.open();
  await waitFor(() => leadership.herdingCount === 0, { what: 'every flock dropped' });
  assert.equal(leadership.counters.flocksDropped, HERDED.length);
});
