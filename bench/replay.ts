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
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pacedLoad } from './paced-load.js';
import { customerKeys, encodedSeedList, KEEP_RECORDS, recordBodies } from './workload.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '25' },
    rate: { type: 'string', default: '6000' },
    customers: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '2' },
    cli: { type: 'string', default: fileURLToPath(new URL('../src/cli/grex.cjs', import.meta.url)) },
  },
});
const jobsDir = fileURLToPath(new URL('../../bench/jobs', import.meta.url));

interface Started {
  child: ChildProcess;
  url: string;
  ms: number;
  output: () => string;
}

function startNode(cli: string, data: string): Promise<Started> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [cli, 'start', '--http', '127.0.0.1:0', '--data', data, '--jobs', jobsDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  return new Promise((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      for (const line of out.split('\n')) {
        if (!line.includes('"url"') || !line.includes('ready')) continue;
        resolve({ child, url: (JSON.parse(line) as { url: string }).url, ms: performance.now() - t0, output: () => out });
        return;
      }
    });
    child.once('exit', (code) => reject(new Error(`the node exited with ${code} before it was ready:\n${out}`)));
  });
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

async function logBytes(data: string): Promise<number> {
  const dir = join(data, 'wal');
  let bytes = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) bytes += (await stat(join(dir, name))).size;
  return bytes;
}

/** One crash and recovery with one build. */
async function round(cli: string): Promise<{ acked: number; replayedCommits: number; logMb: number; readyMs: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'grex-replay-'));
  const data = join(dir, 'data');
  try {
    const first = await startNode(cli, data);
    const keys = customerKeys(Number(values.customers));
    let next = 0;
    const seedOne = async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        const res = await fetch(`${first.url}/buckets/${key}/items/records`, { method: 'PUT', headers: { 'content-type': 'application/msgpack' }, body: encodedSeedList(key, KEEP_RECORDS) });
        if (!res.ok) throw new Error(`seeding ${key}: ${res.status} ${await res.text()}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, seedOne));
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
    await kill(first.child, 'SIGKILL');
    const logMb = (await logBytes(data)) / (1024 * 1024);
    const second = await startNode(cli, data);
    const replayed = second
      .output()
      .split('\n')
      .find((line) => line.includes('replayed the write-ahead log'));
    const replayedCommits = replayed === undefined ? 0 : ((JSON.parse(replayed) as { replayedCommits?: number }).replayedCommits ?? 0);
    await kill(second.child, 'SIGTERM');
    if (load.errors + load.non2xx > 0) throw new Error(`${load.errors + load.non2xx} appends failed`);
    return { acked: load.latencies.length, replayedCommits, logMb, readyMs: second.ms };
  } finally {
    await rm(dir, { recursive: true, force: true });
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
