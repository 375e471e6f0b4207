// The heapGrowthPercent option reaches V8: a node started with it (its
// process, then) whose live heap stays the same but keeps turning over old
// objects collects its old generation many times more often than with
// V8's own factor. Each case runs in a child process: the flag is
// process-wide.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { exampleJobs, repoRoot } from '../../helpers/paths.js';
import { heapGrowthFlag } from '../../../src/node/heap-growth.js';

const run = promisify(execFile);

/**
 * Keeps ~60 MB live, and replaces the oldest of 8,192 ~4 KB objects 160,000
 * times, with young garbage in between (so they live long enough to be
 * promoted, then die old): counts the full collections.
 */
const CHURN = `
import { PerformanceObserver, constants } from 'node:perf_hooks';
const { startNode } = await import(${JSON.stringify(new URL('dist/src/index.js', `file://${repoRoot}`).href)});
const arg = process.argv[1];
const node = await startNode({ store: 'memory', http: false, jobs: ${JSON.stringify(exampleJobs)}, workers: 1, logLevel: 'silent', ...(arg === 'none' ? {} : { heapGrowthPercent: Number(arg) }) });
let majors = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
}).observe({ entryTypes: ['gc'] });
const live = Array.from({ length: 600000 }, (_, i) => ({ i, s: 'live' + i, a: [i] }));
const ring = new Array(8192);
let young;
for (let i = 0; i < 160000; i++) {
  ring[i % ring.length] = { s: 'y'.repeat(2000) + i, a: new Array(256).fill(i) };
  young = Array.from({ length: 64 }, (_, j) => ({ j, s: 'x' + j })); // scavenges between turns of the ring: its objects are promoted
  if (i % 500 === 0) await new Promise((r) => setImmediate(r));
}
await new Promise((r) => setTimeout(r, 50));
await node.stop();
process.stdout.write(JSON.stringify({ majors, live: live.length, young: young.length }));
`;

async function fullCollections(percent: number | undefined): Promise<number> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', CHURN, String(percent ?? 'none')], { timeout: 120_000 });
  return (JSON.parse(stdout) as { majors: number }).majors;
}

describe('heapGrowthPercent', () => {
  test('is the V8 flag --heap-growing-percent', () => {
    assert.equal(heapGrowthFlag(20), '--heap-growing-percent=20');
  });

  test('given to startNode, it makes V8 collect the old generation far more often', async () => {
    const [own, low] = await Promise.all([fullCollections(undefined), fullCollections(10)]);
    assert.ok(low >= 8, `with 10%: ${low} full collections`);
    assert.ok(low >= 3 * Math.max(1, own), `with 10%: ${low} full collections, with V8's own factor: ${own}`);
  });
});
