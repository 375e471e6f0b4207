/**
 * How long a well-behaved client waits for an answer while a node is
 * flooded. The flood of test/integration/flood.test.ts (a node with small
 * limits; 600 keep-alive connections posting 512 KiB job bodies as fast as
 * they get answers) runs in a child process; meanwhile this process opens a
 * fresh connection every 50 ms, in turn posting a small job and reading a
 * bucket's item list (the HTTP path without the job queue), and reports the
 * latency of those answers (p50, p99, max; 200s and 503s alike: a quick 503
 * is a good answer), what the flooders got (answers, connection errors) and
 * the node's own grex_event_loop_lag_seconds over the flood.
 *
 *   npm run bench:flood [-- --seconds 10 --connections 600 --body-kib 512 --profile <dir>]
 *
 * --profile writes the node's CPU profiles there (node --cpu-prof; read them with bench/profile-summary.ts).
 *
 * Prints a summary; writes nothing. Run it on a quiet machine: the flood
 * takes both cores.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exampleJobs } from '../test/helpers/paths.js';
import { startNodeProcess } from '../test/helpers/processes.js';
import { tempDir } from '../test/helpers/temp-dir.js';
import { loadNote, machine } from './report.js';
import { Scope } from './scope.js';

const STARTING_LOAD = loadNote();
const PROBE_EVERY_MS = 50;
const BUCKETS = 40;
/** The limits of the flood test. */
const NODE_ARGS = [
  ...['--workers', '1', '--max-queued-jobs', '32', '--max-queued-per-bucket', '4', '--max-http-requests', '64'],
  ...['--max-http-body-mb', '8', '--cache-mb', '16', '--body-limit-mb', '1'],
];

interface FloodOrder {
  url: string;
  connections: number;
  bodyKib: number;
  ms: number;
}

interface FloodReport {
  statuses: Record<string, number>;
  errors: Record<string, number>;
}

interface Answer {
  status: number;
  ms: number;
}

/** One request (a POST when there is a body); resolves with its status and time, or the error's code. */
function post(url: string, body: Buffer | null, agent: Agent | false): Promise<Answer | { error: string }> {
  const started = performance.now();
  const headers = body === null ? {} : { 'content-type': 'application/json', 'content-length': body.byteLength };
  return new Promise((resolve) => {
    const req = request(url, { method: body === null ? 'GET' : 'POST', agent, headers, timeout: 60_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, ms: performance.now() - started }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end(body ?? undefined);
  });
}

/** The node's max and p99 event-loop lag since its previous scrape. */
async function lagOf(url: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const stat = (s: string) => Number(new RegExp(`^grex_event_loop_lag_seconds\\{stat="${s}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return `max ${Math.round(stat('max') * 1000)} ms, p99 ${Math.round(stat('p99') * 1000)} ms`;
}

interface ProbeKind {
  name: string;
  path: string;
  body: Buffer | null;
  answers: Answer[];
  errors: string[];
}

function describeProbes(kind: ProbeKind): string {
  const sorted = kind.answers.map((p) => p.ms).sort((a, b) => a - b);
  const statuses: Record<string, number> = {};
  for (const p of kind.answers) statuses[p.status] = (statuses[p.status] ?? 0) + 1;
  const round = (n: number) => Math.round(n);
  return (
    `${kind.name}: ${kind.answers.length} answers ${JSON.stringify(statuses)}, errors ${kind.errors.length}; ` +
    `latency p50 ${round(percentile(sorted, 50))} ms, p99 ${round(percentile(sorted, 99))} ms, max ${round(sorted.at(-1) ?? Number.NaN)} ms`
  );
}

/** The child: floods until the time is up, then reports. */
async function flood(order: FloodOrder): Promise<FloodReport> {
  const body = Buffer.from(JSON.stringify({ by: 1, pad: 'x'.repeat(order.bodyKib * 1024) }));
  const agent = new Agent({ keepAlive: true, maxSockets: order.connections });
  const report: FloodReport = { statuses: {}, errors: {} };
  const deadline = Date.now() + order.ms;
  await Promise.all(
    Array.from({ length: order.connections }, async (_, i) => {
      while (Date.now() < deadline) {
        const answer = await post(`${order.url}/buckets/flood-${i % BUCKETS}/jobs/counter`, body, agent);
        if ('error' in answer) report.errors[answer.error] = (report.errors[answer.error] ?? 0) + 1;
        else report.statuses[answer.status] = (report.statuses[answer.status] ?? 0) + 1;
      }
    }),
  );
  agent.destroy();
  return report;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      connections: { type: 'string', default: '600' },
      'body-kib': { type: 'string', default: '512' },
      profile: { type: 'string' },
    },
  });
  const ms = Number(values.seconds) * 1000;
  const scope = new Scope();
  try {
    const data = await tempDir(scope);
    const nodeArgs = values.profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', values.profile];
    const node = await startNodeProcess(scope, ['--http', '127.0.0.1:0', '--data', data, '--jobs', exampleJobs, ...NODE_ARGS], { nodeArgs });
    const order: FloodOrder = { url: node.url, connections: Number(values.connections), bodyKib: Number(values['body-kib']), ms };
    const child = fork(fileURLToPath(import.meta.url), ['--flooder'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    scope.after(() => child.kill());
    const reported = once(child, 'message') as Promise<[FloodReport]>;
    child.send(order);
    // Let the flood build up before probing.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await lagOf(node.url); // starts the node's lag window
    const kinds: ProbeKind[] = [
      { name: 'small job (POST)', path: '/buckets/probe/jobs/counter', body: Buffer.from(JSON.stringify({ by: 1 })), answers: [], errors: [] },
      { name: 'item list (GET)', path: '/buckets/probe/items', body: null, answers: [], errors: [] },
    ];
    const until = Date.now() + ms - 2000;
    for (let i = 0; Date.now() < until; i++) {
      const kind = kinds[i % kinds.length]!;
      const answer = await post(`${node.url}${kind.path}`, kind.body, false);
      if ('error' in answer) kind.errors.push(answer.error);
      else kind.answers.push(answer);
      await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
    }
    const lag = await lagOf(node.url);
    const [floodReport] = await reported;
    if (values.profile !== undefined) await node.stop(); // SIGTERM: the profile is written on a clean exit
    console.log(`machine: ${machine()}; ${STARTING_LOAD}`);
    console.log(`flood: ${order.connections} connections x ${order.bodyKib} KiB bodies for ${values.seconds} s; answers ${JSON.stringify(floodReport.statuses)}, connection errors ${JSON.stringify(floodReport.errors)}`);
    console.log(`node's event-loop lag while probed: ${lag}`);
    for (const kind of kinds) console.log(`probe, fresh connection every ${PROBE_EVERY_MS} ms, ${describeProbes(kind)}`);
  } finally {
    await scope.close();
  }
}

if (process.argv.includes('--flooder')) {
  process.once('message', (order: FloodOrder) => {
    void flood(order).then((report) => {
      process.send!(report);
      process.disconnect();
    });
  });
} else {
  await main();
}
