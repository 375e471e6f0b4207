// A learner herds a flock (`herd` from its active node) only with a whole copy:
// a sync of the promoting term that went through every page, in order, from
// page 0. Anything else is refused with GREX_ERR_COPY_INCOMPLETE, so an active
// node whose "in sync" is stale cannot promote an empty or partial copy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loneLeadership } from '../../helpers/lone-leadership.js';

const F = 3;

async function learner() {
  const { leadership, clock } = await loneLeadership({
    selfId: 'c',
    cluster: {
      flocks: F + 1,
      route: () => ({ flock: F, herders: ['d', 'a'], learners: ['c'], target: ['d', 'a', 'c'], active: 'd' }),
      isLive: () => true,
      linkTo: () => undefined,
    },
  });
  return { leadership, clock };
}

const incomplete = (err: { code?: string }) => err.code === 'GREX_ERR_COPY_INCOMPLETE';
const page = (n: number, pages: number) => ({ page: n, pages });

test('a learner never synced refuses to herd', async () => {
  const { leadership, clock } = await learner();
  await assert.rejects(leadership.onHerd(F, 2), incomplete);
  assert.equal(leadership.herds(F), false);
  assert.equal(await clock.herding(F), false);
});

test('a learner herds once every page of the term arrived, and not before', async () => {
  const { leadership, clock } = await learner();
  await leadership.onSync(F, 2, null, 'm', [], 'd', false, page(0, 2));
  await assert.rejects(leadership.onHerd(F, 2), incomplete);
  await leadership.onSync(F, 2, 'm', null, [], 'd', false, page(1, 2));
  assert.equal(await leadership.onHerd(F, 2), true);
  assert.equal(leadership.herds(F), true);
  assert.equal(await clock.herding(F), true);
});

test('a copy of another term, or with a page skipped, is not whole', async () => {
  const { leadership } = await learner();
  await leadership.onSync(F, 2, null, null, [], 'd', false, page(0, 1));
  // Whole at term 2, but the promotion comes at term 3 (another claim since).
  await assert.rejects(leadership.onHerd(F, 3), incomplete);
  // Term 3: page 0, then page 2 of 3 (page 1 never arrived).
  await leadership.onSync(F, 3, null, 'h', [], 'd', false, page(0, 3));
  await leadership.onSync(F, 3, 'p', null, [], 'd', false, page(2, 3));
  await assert.rejects(leadership.onHerd(F, 3), incomplete);
  // A sync that starts again at page 0 and goes through makes it whole.
  await leadership.onSync(F, 3, null, null, [], 'd', false, page(0, 1));
  assert.equal(await leadership.onHerd(F, 3), true);
});

test('a page from another active node breaks the copy', async () => {
  const { leadership } = await learner();
  await leadership.onSync(F, 2, null, 'm', [], 'd', false, page(0, 2));
  await leadership.onSync(F, 2, 'm', null, [], 'a', false, page(1, 2));
  await assert.rejects(leadership.onHerd(F, 2), incomplete);
});
