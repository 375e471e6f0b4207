// GET /cluster lists the flocks being copied to a node (`transfers`). A sync
// that reaches a node no longer meant to hold the flock (the active node's
// view lagged behind a join) is refused without leaving an entry, and an
// entry whose flock the node stops learning goes at the next tick: before,
// one such entry stayed for good and a farm never looked settled.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loneLeadership } from '../../helpers/lone-leadership.js';
import { waitFor } from '../../helpers/wait-for.js';

const F = 3;

async function node(route: { learners: string[]; target: string[] }) {
  const { leadership } = await loneLeadership({
    selfId: 'c',
    cluster: {
      flocks: F + 1,
      route: () => ({ flock: F, herders: ['d', 'a'], active: 'd', ...route }),
      isLive: () => true,
      linkTo: () => undefined,
    },
  });
  return leadership;
}

test('a sync to a node that is not to hold the flock is refused and shows no transfer', async () => {
  const leadership = await node({ learners: [], target: ['d', 'a'] });
  await assert.rejects(leadership.onSync(F, 2, null, null, [], 'd', false, { page: 0, pages: 1 }), (err: { code?: string }) => err.code === 'GREX_ERR_NOT_HERDER');
  assert.equal(leadership.transfers.size, 0);
});

test('a transfer entry goes once the node no longer learns the flock', async (t) => {
  const route = { learners: ['c'], target: ['d', 'a', 'c'] };
  const leadership = await node(route);
  // A learner: the first page (nothing to fetch) is taken and shows as a transfer.
  await leadership.onSync(F, 2, null, null, [], 'd', false, { page: 0, pages: 2 });
  assert.deepEqual([...leadership.transfers.keys()], [F]);
  // The map moved on: c is no longer a target of the flock.
  route.learners = [];
  route.target = ['d', 'a'];
  leadership.start(10);
  t.after(() => leadership.stop());
  await waitFor(() => leadership.transfers.size === 0, { what: 'the stale transfer entry to go' });
});
