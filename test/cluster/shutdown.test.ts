// SIGTERM during load: the node stops taking jobs, finishes those in flight,
// hands its flocks to their next herders and exits 0 within a bound; no
// acknowledged job is lost and the others take over without waiting to see it dead.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startCounterLoad } from '../helpers/counter-load.js';
import { waitForSettled } from '../helpers/process-cluster.js';
import { counterOf, startDataNode } from '../helpers/rebalance.js';
import { waitFor } from '../helpers/wait-for.js';

describe('graceful shutdown', () => {
  test('SIGTERM under load: exit 0, flocks handed over, nothing acknowledged lost', async (t) => {
    // Slow failure detection: writes resume quickly only if the stopping node hands over.
    const extra = ['--suspect-after-ms', '30000', '--dead-after-ms', '60000'];
    const a = await startDataNode(t, 'a', null, extra);
    const [b, c] = await Promise.all([startDataNode(t, 'b', a, extra), startDataNode(t, 'c', a, extra)]);
    await waitForSettled([a, b, c].map((n) => n.proc));

    const buckets = Array.from({ length: 8 }, (_, i) => `term-${i}`);
    const load = startCounterLoad(buckets, [a, b, c].map((n) => n.proc.url));
    const { acknowledged, checker } = load;
    await waitFor(() => acknowledged() >= 80, { what: 'the load to run' });

    load.targets = [b, c].map((n) => n.proc.url);
    const started = Date.now();
    assert.equal(await a.proc.stop('SIGTERM'), 0, a.proc.output().slice(-2000));
    const stoppedInMs = Date.now() - started;
    assert.ok(stoppedInMs < 20_000, `stopped in ${stoppedInMs} ms`);
    assert.match(a.proc.output(), /stepped down as active node of a flock/, 'a handed its flocks over');
    // Writes go on without a being declared dead (that would take 60 s here).
    const after = acknowledged();
    await waitFor(() => acknowledged() >= after + 80, { what: 'jobs to go on on b and c', timeoutMs: 20_000 });

    await load.stop();
    const finals = new Map<string, number>();
    for (const bucket of buckets) finals.set(bucket, await counterOf(b, bucket));
    assert.deepEqual(checker.problems(finals), [], checker.summary());
  });
});
