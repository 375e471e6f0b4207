// A herder asked for a promise by a node it does not see as the flock's
// active node first merges that node's member table (the candidate may have
// heard of a change, such as a node leaving, that this herder has not) and
// promises if its view then agrees; only a view that still differs refuses
// (GREX_ERR_NOT_ACTIVE), so a candidate cannot depose a working active node.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loneLeadership } from '../../helpers/lone-leadership.js';

const F = 3;

async function herder(activeAfterCatchUp: string) {
  let active = 'x';
  const caughtUpWith: string[] = [];
  const { leadership, clock } = await loneLeadership({
    selfId: 'c',
    before: async (clock) => void (await clock.setHerding(F, true)),
    cluster: {
      flocks: F + 1,
      route: () => ({ flock: F, herders: ['x', 'd', 'c'], learners: [], target: ['x', 'd', 'c'], active }),
      isLive: () => true,
      linkTo: () => undefined,
      announcedHerders: () => ['x', 'd', 'c'],
      catchUpWith: async (nodeId: string) => {
        caughtUpWith.push(nodeId);
        active = activeAfterCatchUp;
      },
    },
  });
  return { leadership, clock, caughtUpWith };
}

test('a candidate the herder sees as active once it merged the candidate\'s view gets the promise', async () => {
  const { leadership, clock, caughtUpWith } = await herder('d');
  const answer = await leadership.onClaim(F, 5, 'd');
  assert.equal(answer.herding, true);
  assert.deepEqual(caughtUpWith, ['d']);
  assert.equal(await clock.promised(F), 5);
});

test('a candidate the herder still does not see as active is refused, and nothing is promised', async () => {
  const { leadership, clock, caughtUpWith } = await herder('x');
  await assert.rejects(leadership.onClaim(F, 5, 'd'), (err: { code?: string }) => err.code === 'GREX_ERR_NOT_ACTIVE');
  assert.deepEqual(caughtUpWith, ['d']);
  assert.equal(await clock.promised(F), 0);
});
