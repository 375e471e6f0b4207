/**
 * A longer fault run than npm test's: npm run test:faults [-- <seconds> [<seed>]].
 * Prints the schedule as it goes and exits non-zero if the checker finds a problem.
 */
import { runFaults } from '../test/fault/harness.js';

const seconds = Number(process.argv[2] ?? 300);
const seed = Number(process.argv[3] ?? Math.floor(Math.random() * 2 ** 31));
const cleanups: (() => unknown)[] = [];
console.log(`fault run: ${seconds} s, seed ${seed}`);
try {
  const result = await runFaults({ after: (fn: () => unknown) => void cleanups.push(fn) }, { seed, seconds, ...(process.env.FAULT_LOG_DIR === undefined ? {} : { logDir: process.env.FAULT_LOG_DIR }), log: (line) => console.log(`  ${new Date().toISOString()} ${line}`) });
  console.log(result.summary);
  if (result.problems.length > 0) {
    console.error(`PROBLEMS (seed ${seed}):\n${result.problems.join('\n')}`);
    process.exitCode = 1;
  } else {
    console.log(`ok: ${result.acknowledged} acknowledged jobs, nothing lost (seed ${seed})`);
  }
} finally {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
}
