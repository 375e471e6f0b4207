// Rebalancing with real processes while counter jobs keep running: a fourth
// node joins a three-node cluster, one node leaves (grex leave), a dead node
// is removed. The checker must pass, every flock must end with `replicas`
// herding copies, and a node must hold no files of a flock it does not herd.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCounter } from '../fault/harness.js';
import { startCounterLoad } from '../helpers/counter-load.js';
import { requestJson } from '../helpers/http.js';
import { waitForSettled } from '../helpers/process-cluster.js';
import { clusterView as view, counterOf as finalCount, holdsOnlyWhatItHerds, startDataNode as startNode, waitForFarm } from '../helpers/rebalance.js';
import { waitFor } from '../helpers/wait-for.js';

describe('rebalancing', () => {
  test('a node joins, one leaves, a dead one is removed, while counters run: nothing acknowledged is lost', async (t) => {
    const extra = ['--replicas', '2'];
    const a = await startNode(t, 'a', null, extra);
    const [b, c] = await Promise.all([startNode(t, 'b', a, extra), startNode(t, 'c', a, extra)]);
    await waitForSettled([a, b, c].map((n) => n.proc));
    // Data on many flocks, so that joins and leaves move real copies.
    for (let i = 0; i < 60; i++) {
      const answer = await runCounter(a.proc.url, `seed-${i}`);
      assert.ok('count' in answer, `seed-${i}: ${JSON.stringify(answer)}`);
    }
    await waitForFarm([a, b, c], 'three nodes herding every claimed flock');

    // Load: one sequential client per bucket, each job sent to the next node of `targets`.
    const buckets = Array.from({ length: 6 }, (_, i) => `load-${i}`);
    const load = startCounterLoad(buckets, [a, b, c].map((n) => n.proc.url));
    const { acknowledged, checker } = load;
    await waitFor(() => acknowledged() >= 30, { what: 'the load to run' });

    // 1. A fourth node joins: it copies its share, the nodes that lost flocks drop them.
    const d = await startNode(t, 'd', a, extra);
    load.targets = [a, b, c, d].map((n) => n.proc.url);
    const joined = await waitForFarm([a, b, c, d], 'd to herd its share');
    assert.ok(joined.find((v) => v.members.length === 4), 'four members');
    assert.ok((await view(d)).counters.flocksPromoted >= 0);
    assert.notEqual((await view(d)).herdingFlocks, '', 'd herds flocks');
    for (const node of [a, b, c, d]) await holdsOnlyWhatItHerds(node);
    const before = acknowledged();
    await waitFor(() => acknowledged() >= before + 20, { what: 'jobs to go on after the join' });

    // 2. b leaves: its flocks are handed over, then it stops by itself (exit 0).
    load.targets = [a, c, d].map((n) => n.proc.url);
    const left = await requestJson(`${b.proc.url}/cluster/leave`, { method: 'POST' });
    assert.equal(left.status, 202);
    assert.equal(await b.proc.stop('SIGCONT'), 0, 'b stopped after handing over');
    await waitForFarm([a, c, d], 'a, c and d to herd every flock after b left');
    for (const node of [a, c, d]) await holdsOnlyWhatItHerds(node);

    // 3. c dies and is removed: its flocks are copied again until each has two herders.
    load.targets = [a, d].map((n) => n.proc.url);
    await c.proc.stop('SIGKILL');
    await waitFor(async () => (await Promise.all([a, d].map(view))).every((v) => v.members.find((m) => m.nodeId === 'c')?.state === 'dead'), {
      what: 'c declared dead',
    });
    const removed = await requestJson(`${a.proc.url}/cluster/members/c/remove`, { method: 'POST' });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    const last = await waitForFarm([a, d], 'a and d to herd every flock after c was removed');
    assert.ok(last.every((v) => v.flockStates.settled >= 55), 'every claimed flock has two herders');
    for (const node of [a, d]) await holdsOnlyWhatItHerds(node);
    const afterRemove = acknowledged();
    await waitFor(() => acknowledged() >= afterRemove + 20, { what: 'jobs to go on after the removal' });

    await load.stop();
    const finals = new Map<string, number>();
    for (const bucket of buckets) finals.set(bucket, await finalCount(a, bucket));
    assert.deepEqual(checker.problems(finals), [], checker.summary());
    // Both herders hold the same version of every counter, and every seeded count survived.
    for (const bucket of [...buckets, 'seed-0', 'seed-37', 'seed-59']) {
      await waitFor(
        async () => {
          const versions = await Promise.all(
            [a, d].map(async (n) => (await fetch(`${n.proc.url}/buckets/${bucket}/items/count?local=true`)).headers.get('grex-version')),
          );
          return versions[0] !== null && versions.every((v) => v === versions[0]);
        },
        { what: `both herders to hold the same version of ${bucket}` },
      );
    }
    assert.equal(await finalCount(d, 'seed-37'), 1);
  });
});
