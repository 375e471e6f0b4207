// The fault harness and checker (test/fault/harness.ts), bounded for npm test:
// three real node processes through ~50 s of seeded SIGKILLs, restarts,
// partitions and heals while counters and appends run. Replay a failure with
// GREX_FAULT_SEED=<seed> npm test -- fault; run longer with npm run test:faults.
// FAULT_LOG_DIR=<dir> keeps every node's debug log and the clients' outcomes there (not GREX_: a grex
// process refuses GREX_ variables it does not know, and tests that start one inherit this environment).
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runFaults } from './harness.js';

describe('faults', () => {
  test('counters and appends survive SIGKILLs, restarts and partitions: nothing acknowledged is lost, replicas converge', async (t) => {
    const seed = Number(process.env.GREX_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const seconds = Number(process.env.GREX_FAULT_SECONDS ?? 30);
    const logDir = process.env.FAULT_LOG_DIR;
    const result = await runFaults(t, { seed, seconds, ...(logDir === undefined ? {} : { logDir: await mkdtemp(join(logDir, `seed-${seed}-`)) }) });
    const report = `seed ${seed} (replay: GREX_FAULT_SEED=${seed} npm test -- fault)\nevents: ${result.events.join(', ')}\n${result.summary}`;
    assert.deepEqual(result.problems, [], report);
    assert.ok(result.acknowledged > 0, `no job was acknowledged\n${report}`);
    t.diagnostic(report);
  });
});
