/**
 * Crash recovery time: one node takes paced appends (1,000 customers' lists
 * of 200 records, as in the HTTP benchmark), is SIGKILLed, and is started
 * again on its data; the script reports the commits its log replayed and
 * the time from the restart's spawn to "ready" (node start included).
 *
 *   npm run build && node dist/bench/replay.js [--seconds 25] [--rate 6000]
 *        [--customers 1000] [--rounds 2] [--cli <grex.cjs>[,<grex.cjs>...]]
 *
 * With several `--cli` builds (dist/src/cli/grex.cjs of other checkouts) the
 * builds take turns, round after round, so a busy machine weighs on each alike.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startNodeProcess } from '../test/helpers/processes.js';
import { tempDir } from '../test/helpers/temp-dir.js';
import { pacedLoad } from './paced-load.js';
import { Scope } from './scope.js';
import { BENCH_JOBS } from './systems/grex.js';
import { putLists } from './systems/seed.js';
import { customerKeys, KEEP_RECORDS, recordBodies } from './workload.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '25' },
    rate: { type: 'string', default: '6000' },
    customers: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '2' },
    cli: { type: 'string', default: fileURLToPath(new URL('../src/cli/grex.cjs', import.meta.url)) },
  },
});

async function logBytes(data: string): Promise<number> {
  const dir = join(data, 'wal');
  let bytes = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) bytes += (await stat(join(dir, name))).size;
  return bytes;
}

/** One crash and recovery with one build. */
async function round(cli: string): Promise<{ acked: number; replayedCommits: number; logMb: number; readyMs: number }> {
  const scope = new Scope();
  try {
    const data = join(await tempDir(scope, 'grex-replay-'), 'data');
    const args = ['--http', '127.0.0.1:0', '--data', data, '--jobs', BENCH_JOBS];
    const first = await startNodeProcess(scope, args, { cli });
    const keys = customerKeys(Number(values.customers));
    await putLists((key) => `${first.url}/buckets/${encodeURIComponent(key)}/items/records`, keys, KEEP_RECORDS);
    const bodies = recordBodies(4096);
    let n = 0;
    const load = await pacedLoad({
      url: first.url,
      rate: Number(values.rate),
      durationSec: Number(values.seconds),
      connections: 32,
      timeoutSec: 10,
      next: () => ({ method: 'POST', path: `/buckets/${keys[Math.floor(Math.random() * keys.length)]}/jobs/append-record`, body: bodies[n++ % bodies.length]! }),
    });
    if (load.errors + load.non2xx > 0) throw new Error(`${load.errors + load.non2xx} appends failed`);
    await first.stop('SIGKILL');
    const logMb = (await logBytes(data)) / (1024 * 1024);
    const restartedAt = performance.now();
    const second = await startNodeProcess(scope, args, { cli });
    const readyMs = performance.now() - restartedAt;
    const replayed = second
      .output()
      .split('\n')
      .find((line) => line.includes('replayed the write-ahead log'));
    const replayedCommits = replayed === undefined ? 0 : ((JSON.parse(replayed) as { replayedCommits?: number }).replayedCommits ?? 0);
    await second.stop('SIGTERM');
    return { acked: load.latencies.length, replayedCommits, logMb, readyMs };
  } finally {
    await scope.close();
  }
}

const clis = values.cli.split(',');
console.log(`crash replay: ${values.seconds} s of appends at ${values.rate}/s over ${values.customers} customers, SIGKILL, restart; ${values.rounds} round(s) of ${clis.length} build(s)`);
for (let r = 1; r <= Number(values.rounds); r++) {
  for (const cli of clis) {
    const result = await round(cli);
    const rate = result.replayedCommits / (result.readyMs / 1000);
    console.log(
      `round ${r} ${cli}: ${result.acked} appends acknowledged; log ${result.logMb.toFixed(1)} MB, ${result.replayedCommits} commits replayed; restart to ready ${result.readyMs.toFixed(0)} ms (${Math.round(rate)} commits/s)`,
    );
  }
}
