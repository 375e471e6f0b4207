// A job is fenced by the term it started under: if its node loses the flock and
// claims it again while the job runs (merging writes the job never saw), the job's
// commit is refused with GREX_ERR_STALE_TERM instead of overwriting those writes
// with a result computed from older data (a lost update). The refusal comes before
// anything is stored (`stored: false`), so the node runs the job once more, on the
// newer data, and answers that.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { GrexNode } from '../../src/grex-node.js';
import { flockOf } from '../../src/keys.js';
import { bucketLedBy, isolate, rejoin, startMemoryCluster } from '../helpers/memory-cluster.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

type Nodes = [GrexNode, GrexNode, GrexNode];

const termOn = (node: GrexNode, flock: number) => node.leadership().find((l) => l.flock === flock)?.term;

describe('job fencing', () => {
  test('a job whose node lost and re-claimed the flock while it ran is refused and run again on the newer writes', async (t) => {
    const cluster = await startMemoryCluster(t, 3, { jobTimeoutMs: 60_000 });
    const [a, b, c] = cluster.nodes as Nodes;
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId, c.nodeId);
    const flock = flockOf(bucket, a.flocks);
    // Another bucket of the same flock, to move leadership while `bucket` is busy.
    let other = '';
    for (let i = 0; other === ''; i++) if (flockOf(`other-${i}`, a.flocks) === flock) other = `other-${i}`;
    await a.submit(bucket, 'counter');
    const firstTerm = termOn(a, flock)!;

    const dir = await tempDir(t);
    const slow = a.submit<{ count: number }>(bucket, 'slow-counter', { path: join(dir, 'go'), mark: join(dir, 'read') });
    await waitFor(() => existsSync(join(dir, 'read')), { what: 'the slow job to read the count (1)' });

    // a is cut off; b takes the flock and counts to 3.
    isolate(cluster, 0);
    await waitFor(() => b.cluster.stateOf(a.nodeId) === 'dead', { what: 'b to see a dead' });
    await waitFor(() => b.submit(bucket, 'counter').then(() => true, () => false), { what: 'b to take writes' });
    assert.deepEqual((await b.submit(bucket, 'counter')).result, { count: 3 });

    // a comes back, is refused as stale once, and claims the flock again above b's term.
    rejoin(cluster, 0);
    await waitFor(() => a.cluster.stateOf(b.nodeId) === 'alive' && b.cluster.stateOf(a.nodeId) === 'alive', { what: 'a back' });
    await waitFor(
      async () => {
        await a.submit(other, 'counter').catch(() => undefined);
        return (termOn(a, flock) ?? 0) > firstTerm + 1;
      },
      { what: 'a to lead the flock again at a newer term' },
    );

    const rerouted = a.cluster.counters.rerouted;
    await writeFile(join(dir, 'go'), '');
    // The first run (count 1 + 1) was refused; the second ran on b's writes (3 + 1).
    assert.deepEqual((await slow).result, { count: 4 });
    assert.equal(a.cluster.counters.rerouted, rerouted + 1, 'the job was refused once and run again');
    assert.deepEqual((await a.submit(bucket, 'counter', { by: 0 })).result, { count: 4 }, 'b\'s writes were not overwritten');
  });
});
