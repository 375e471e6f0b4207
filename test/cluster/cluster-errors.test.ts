// The errors only a cluster can cause, produced by real requests to real node
// processes: a ?local read on a node that herds nothing, a peer that stops
// answering, a write quorum that cannot be met, an active node that is gone.
// (GREX_ERR_NOT_ACTIVE and GREX_ERR_FLOCK_UNASSIGNED: test/cluster/memory-cluster.test.ts.)
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { ErrorCode } from '../../src/errors.js';
import { postJob, requestJson, type JsonAnswer } from '../helpers/http.js';
import { bucketActiveOn, startClusterProcess, waitForInSync, waitForSettled } from '../helpers/process-cluster.js';
import type { NodeProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';
import { suiteContext } from '../helpers/suite.js';


function assertError(answer: JsonAnswer, code: ErrorCode, status: number): void {
  assert.equal(answer.body?.error?.code, code, JSON.stringify(answer.body));
  assert.equal(answer.status, status);
}

describe('cluster errors over HTTP', () => {
  let a: NodeProcess;
  let b: NodeProcess;
  let c: NodeProcess;
  let router: NodeProcess;
  const suite = suiteContext();

  before(async () => {
    a = await startClusterProcess(suite, 'node-a', null);
    [b, c] = await Promise.all([startClusterProcess(suite, 'node-b', a), startClusterProcess(suite, 'node-c', a)]);
    // A node that herds nothing, never declares a peer dead, and gives up on bleets quickly.
    router = await startClusterProcess(suite, 'router', a, ['--herd', 'false', '--dead-after-ms', '600000', '--suspect-after-ms', '300000', '--job-timeout-ms', '1000', '--bleet-timeout-ms', '1000']);
    await waitForSettled([a, b, c, router]);
  });

  test('a ?local read on a node that herds no flock: GREX_ERR_NOT_HERDER (404)', async () => {
    await postJob(router.url, 'x', 'counter');
    assertError(await requestJson(`${router.url}/buckets/x/items/count?local=true`), 'GREX_ERR_NOT_HERDER', 404);
    assert.equal((await fetch(`${router.url}/buckets/x/items/count`)).status, 200, 'a plain read goes to the active node');
  });

  test('an active node that stops answering: GREX_ERR_BLEET_TIMEOUT (504)', async () => {
    const bucket = await bucketActiveOn(router, a, 'frozen');
    a.child.kill('SIGSTOP');
    try {
      assertError(await postJob(router.url, bucket, 'counter'), 'GREX_ERR_BLEET_TIMEOUT', 504);
    } finally {
      a.child.kill('SIGCONT');
    }
    await waitForSettled([a, b, c, router]);
  });

  test('a write quorum that cannot be met: GREX_ERR_QUORUM (503)', async () => {
    const bucket = await bucketActiveOn(a, a, 'lonely');
    // Right after the previous test a may be routed the flock before it herds it again: it
    // answers 503 with Retry-After then, and a client tries again.
    const first = await waitFor(
      async () => {
        const answer = await postJob(a.url, bucket, 'counter');
        return answer.status === 503 && answer.headers.get('retry-after') !== null ? undefined : answer;
      },
      { what: 'a first write on a' },
    );
    assert.equal(first.status, 200, JSON.stringify(first.body));
    await waitForInSync(a, bucket, ['node-b', 'node-c']);
    await Promise.all([b.stop('SIGKILL'), c.stop('SIGKILL')]);
    assertError(await postJob(a.url, bucket, 'counter'), 'GREX_ERR_QUORUM', 503);
  });

  test('an active node that is gone but not yet declared dead: GREX_ERR_PEER_UNAVAILABLE (503)', async () => {
    const bucket = await bucketActiveOn(router, a, 'gone');
    await a.stop('SIGKILL');
    await waitFor(async () => {
      const view = (await requestJson(`${router.url}/cluster`)).body;
      return view.members.some((m: { nodeId: string; connected: boolean }) => m.nodeId === 'node-a' && !m.connected);
    }, { what: 'the router to lose its connection to node-a' });
    const answer = await postJob(router.url, bucket, 'counter');
    assertError(answer, 'GREX_ERR_PEER_UNAVAILABLE', 503);
    assert.ok(answer.headers.get('retry-after') !== null);
  });
});
