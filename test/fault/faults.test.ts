// The fault harness and checker (test/fault/harness.ts), bounded for npm test:
// three real node processes through ~50 s of seeded SIGKILLs, restarts,
// partitions and heals while counters and appends run. Replay a failure with
// GREX_FAULT_SEED=<seed> npm test -- fault; run longer with npm run test:faults.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runFaults } from './harness.js';

describe('faults', () => {
  test('counters and appends survive SIGKILLs, restarts and partitions: nothing acknowledged is lost, replicas converge', async (t) => {
    const seed = Number(process.env.GREX_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const seconds = Number(process.env.GREX_FAULT_SECONDS ?? 30);
    const result = await runFaults(t, { seed, seconds });
    const report = `seed ${seed} (replay: GREX_FAULT_SEED=${seed} npm test -- fault)\nevents: ${result.events.join(', ')}\n${result.summary}`;
    assert.deepEqual(result.problems, [], report);
    assert.ok(result.acknowledged > 0, `no job was acknowledged\n${report}`);
    t.diagnostic(report);
  });
});
