// A warm handover is not lost when the claim it starts fails (the old active
// node's view can lag behind the new one's and refuse it): the hot buckets
// are kept for the tick, which claims again and loads them; kept ones expire.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterNode } from '../../../src/cluster/cluster-node.js';
import type { FlockClaims } from '../../../src/cluster/flock-claim.js';
import { FlockHandovers } from '../../../src/cluster/flock-handover.js';
import { LeadershipState } from '../../../src/cluster/leadership-state.js';
import { GrexError } from '../../../src/errors.js';
import type { FlockClock } from '../../../src/scheduler/flock-clock.js';
import type { ItemStore } from '../../../src/store/item-store.js';
import { leadershipOptions } from '../../helpers/lone-leadership.js';

const F = 5;

function handovers(options: { activeHere: () => boolean; claimFails: number }) {
  const loaded: string[][] = [];
  let claims = 0;
  const state = new LeadershipState(
    leadershipOptions({
      selfId: 'b',
      cluster: { route: () => ({ flock: F, herders: ['b', 'a'], learners: [], target: ['b'], active: options.activeHere() ? 'b' : 'a' }) } as unknown as ClusterNode,
      clock: {} as FlockClock,
      store: {} as ItemStore,
      warmBuckets: async (buckets) => {
        loaded.push([...buckets]);
        return buckets.length;
      },
    }),
  );
  const fakeClaims = {
    ensureLeading: () =>
      ++claims <= options.claimFails
        ? Promise.reject(new GrexError('GREX_ERR_NOT_ACTIVE', `node a sees itself as the active node of flock ${F}, not b`))
        : Promise.resolve(7),
  } as unknown as FlockClaims;
  return { handovers: new FlockHandovers(state, fakeClaims), state, loaded, claims: () => claims };
}

test('a warm handover whose claim is refused keeps its buckets; the next try claims and loads them', async () => {
  const { handovers: h, state, loaded } = handovers({ activeHere: () => true, claimFails: 1 });
  await assert.rejects(h.onWarm(F, ['c1', 'c2']), (err: GrexError) => err.code === 'GREX_ERR_NOT_ACTIVE');
  assert.deepEqual(h.pendingWarm.get(F)?.buckets, ['c1', 'c2'], 'kept for the tick');
  assert.deepEqual(loaded, []);
  // What the tick does with a kept handover.
  assert.equal(await h.onWarm(F, h.pendingWarm.get(F)!.buckets), 2);
  assert.deepEqual(loaded, [['c1', 'c2']]);
  assert.equal(h.pendingWarm.has(F), false, 'gone once the flock is led');
  assert.equal(state.counters.warmedBuckets, 2);
});

test('a warm handover that arrives before the view shows the move is kept, and expires unclaimed', async () => {
  let activeHere = false;
  const { handovers: h, loaded, claims } = handovers({ activeHere: () => activeHere, claimFails: 0 });
  assert.equal(await h.onWarm(F, ['c1']), 0);
  assert.equal(claims(), 0, 'no claim while the view shows another active node');
  const until = h.pendingWarm.get(F)!.until;
  // Kept again (say a second handover) does not extend its time.
  await h.onWarm(F, ['c1', 'c3']);
  assert.equal(h.pendingWarm.get(F)!.until, until);
  h.expireWarm(until);
  assert.deepEqual(h.pendingWarm.get(F)?.buckets, ['c1', 'c3']);
  h.expireWarm(until + 1);
  assert.equal(h.pendingWarm.has(F), false);
  activeHere = true;
  assert.equal(await h.onWarm(F, ['c9']), 1);
  assert.deepEqual(loaded, [['c9']]);
});
