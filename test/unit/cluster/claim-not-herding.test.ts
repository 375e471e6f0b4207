// A job routed to a node as the flock's active node while that node does not
// herd the flock (the farm map is moving: it is still copying the flock, or
// dropping it) is told to come back, not that it asked the wrong node for
// good: a retryable GREX_ERR_FLOCK_UNAVAILABLE (503), never GREX_ERR_NOT_HERDER
// (404, for ?local reads), and no term is raised.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GrexError } from '../../../src/errors.js';
import { loneLeadership } from '../../helpers/lone-leadership.js';

const F = 9;

test('claiming a flock this node does not herd answers a retryable GREX_ERR_FLOCK_UNAVAILABLE', async () => {
  const { leadership, clock } = await loneLeadership({
    selfId: 'a',
    cluster: {
      // The map lists a first (its announced herding is not yet the node's own), so jobs come here.
      route: () => ({ flock: F, herders: ['a', 'b', 'c'], learners: [], target: ['a', 'b', 'c'], active: 'a' }),
      isLive: () => true,
      linkTo: () => ({}),
    },
  });
  assert.equal(leadership.herds(F), false);
  const err = await leadership.ensureLeading(F).then(
    () => assert.fail('claimed a flock it does not herd'),
    (e: unknown) => e as GrexError,
  );
  assert.equal(err.code, 'GREX_ERR_FLOCK_UNAVAILABLE', err.message);
  assert.equal(err.status, 503);
  assert.equal(err.retryable, true);
  assert.equal(err.data?.retryAfterSeconds, 1);
  assert.equal(await clock.promised(F), 0, 'no term promised');
});
