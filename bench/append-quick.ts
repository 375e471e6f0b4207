/**
 * A quick measurement of the append workload on one durable node (not the
 * full benchmark; see issue 6): 1,000 buckets, each holding one list item of
 * 200 records (~12 KB encoded), pre-seeded; each request appends one record
 * and keeps the last 200.
 *
 *   npm run build && node dist/bench/append-quick.js [--job append|put] [--seconds 10]
 *        [--connections 32] [--fsync always|never] [--cpu-prof <dir> [--prof-node i]] [--nodes 1|3] [--cli <grex.cjs>]
 *        [--node-args "<more grex start flags>"] [--one-active] [--body json|msgpack]
 *
 * `--job append` uses ctx.append (only the new record is persisted and
 * shipped); `--job put` reads the list, changes it and puts it whole (the way
 * jobs were written before ctx.append). The node runs as a real `grex start`
 * process; autocannon runs in another process (this script, `--load`).
 * With `--cpu-prof`, the node writes a V8 CPU profile there (one node only:
 * it is restarted on its data after seeding, so the profile shows the load).
 * `--cli` runs another build of Grex (to compare with an older commit).
 * With `--nodes 3`, three nodes with replicas 3 and the load goes straight to
 * each bucket's active node; `--one-active` sends it only to node 0's
 * buckets (node 0's CPU is then an active node's, the others' a replica's).
 * `--body msgpack` sends the job data as msgpack instead of JSON.
 * It prints req/s and latency, CPU per request (every node, main threads,
 * per node) and each node's commits per log batch (group commit at work,
 * from GET /metrics; null for a build without that metric).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { itemCodec, wireCodec } from '../src/codec.js';

const BUCKETS = 1000;
const RECORDS = 200;

const JOBS: Record<string, string> = {
  'append.js': `export default async (ctx, data) => {
  const record = { description: data.description, other: data.other, amount: data.amount, date: new Date() };
  const length = await ctx.append('list', [record], { keep: ${RECORDS} });
  return { length };
};
`,
  'put.js': `export default async (ctx, data) => {
  const list = (await ctx.get('list')) ?? [];
  list.push({ description: data.description, other: data.other, amount: data.amount, date: new Date() });
  if (list.length > ${RECORDS}) list.splice(0, list.length - ${RECORDS});
  ctx.put('list', list);
  return { length: list.length };
};
`,
};

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1]!;
}

// About 60 bytes encoded, like the records of the workload.
const record = (i: number) => ({
  description: `coffee beans, medium roast ${i % 97}`,
  other: `order-ref-${100_000 + i}`,
  amount: (i % 1000) / 10,
  date: new Date(1_700_000_000_000 + i * 1000),
});
const bucketKey = (i: number) => `customer-${i}`;

interface Node {
  child: ChildProcess;
  url: string;
  bleet: string;
}

function startNode(args: string[], nodeArgs: string[]): Promise<Node> {
  const cli = arg('cli', fileURLToPath(new URL('../src/cli/grex.cjs', import.meta.url)));
  const child = spawn(process.execPath, [...nodeArgs, cli, 'start', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      for (const line of out.split('\n')) {
        if (!line.includes('ready at')) continue;
        const entry = JSON.parse(line) as { url: string; bleetUrl?: string };
        resolve({ child, url: entry.url, bleet: (entry.bleetUrl ?? '').replace('ws://', '') });
      }
    });
    child.once('exit', (code) => reject(new Error(`node exited with ${code}: ${out}`)));
  });
}

/**
 * CPU seconds (user + system) of a process and of its main thread, from
 * /proc (Linux; null elsewhere). Divided by the requests served, this is the
 * cost of a request, which a shared, busy machine distorts far less than req/s.
 */
async function cpuSeconds(pid: number): Promise<{ process: number; main: number } | null> {
  const ticks = async (path: string) => {
    const fields = (await readFile(path, 'utf8')).split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100)
  };
  try {
    return { process: await ticks(`/proc/${pid}/stat`), main: await ticks(`/proc/${pid}/task/${pid}/stat`) };
  } catch {
    return null;
  }
}

/** CPU seconds so far of each thread of a process, by thread name (Linux). */
async function threadCpu(pid: number): Promise<Record<string, number>> {
  const { readdir } = await import('node:fs/promises');
  const out: Record<string, number> = {};
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.split(') ')[1]!.split(' ');
    out[`${name}#${tid}`] = (Number(fields[11]) + Number(fields[12])) / 100;
  }
  return out;
}

async function activeUrl(node: Node, bucket: string): Promise<string> {
  const res = await fetch(`${node.url}/route/${bucket}`);
  const route = (await res.json()) as { activeNode: string | null };
  return route.activeNode ?? node.url;
}

/** A node's write-ahead-log totals from GET /metrics: commits made durable and the batches they took. */
async function logTotals(url: string): Promise<{ commits: number; batches: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { commits: read('grex_log_commits_total'), batches: read('grex_log_write_seconds_count') };
}

async function seed(urls: (bucket: string) => Promise<string>): Promise<void> {
  const list = Array.from({ length: RECORDS }, (_, i) => record(i));
  const body = Buffer.from(itemCodec.pack(list));
  let next = 0;
  const worker = async () => {
    while (next < BUCKETS) {
      const bucket = bucketKey(next++);
      const res = await fetch(`${await urls(bucket)}/buckets/${bucket}/items/list`, { method: 'PUT', headers: { 'content-type': 'application/msgpack' }, body });
      if (!res.ok) throw new Error(`seeding ${bucket}: ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  console.log(`seeded ${BUCKETS} buckets of ${RECORDS} records (${body.length} bytes each)`);
}

/** Child process: autocannon against the given bucket -> URL table. */
async function load(): Promise<void> {
  type Result = { requests: { average: number }; latency: { p50: number; p99: number }; errors: number; non2xx: number };
  const { default: autocannon } = (await import('autocannon' as string)) as { default: (options: object) => Promise<Result> };
  const table = JSON.parse(arg('load', '{}')) as Record<string, string>;
  const job = arg('job', 'append');
  const msgpackBody = arg('body', 'json') === 'msgpack';
  const buckets = Object.keys(table);
  const origins = [...new Set(Object.values(table))];
  // One autocannon run per origin would split connections; the load goes to origin 0's
  // buckets only when there is one node, else each request picks a bucket of that origin.
  const results = await Promise.all(
    origins.map((origin) => {
      const mine = buckets.filter((b) => table[b] === origin);
      let i = 0;
      return autocannon({
        url: origin,
        connections: Math.max(1, Math.round(Number(arg('connections', '32')) / origins.length)),
        duration: Number(arg('seconds', '10')),
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': msgpackBody ? 'application/msgpack' : 'application/json' },
            setupRequest: (req: Record<string, unknown>) => {
              const bucket = mine[Math.floor(Math.random() * mine.length)]!;
              i++;
              const data = { description: 'coffee beans, medium roast 12', other: `order-ref-${i}`, amount: i % 100 };
              return { ...req, path: `/buckets/${bucket}/jobs/${job}`, body: msgpackBody ? Buffer.from(wireCodec.pack(data)) : JSON.stringify(data) };
            },
          },
        ],
      });
    }),
  );
  const total = results.reduce((n, r) => n + r.requests.average, 0);
  const errors = results.reduce((n, r) => n + r.errors + r.non2xx, 0);
  console.log(JSON.stringify({ reqPerSec: Math.round(total), p50: results[0]!.latency.p50, p99: results[0]!.latency.p99, errors }));
}

async function main(): Promise<void> {
  const job = arg('job', 'append');
  const nodes = Number(arg('nodes', '1'));
  const dir = await mkdtemp(join(tmpdir(), 'grex-append-quick-'));
  const jobsDir = join(dir, 'jobs');
  await mkdir(jobsDir);
  for (const [name, source] of Object.entries(JOBS)) await writeFile(join(jobsDir, name), source);
  const prof = arg('cpu-prof', '');
  const running: Node[] = [];
  try {
    const extra = arg('node-args', '').split(' ').filter((a) => a !== '');
    const common = ['--http', '127.0.0.1:0', '--jobs', jobsDir, '--fsync', arg('fsync', 'always'), ...extra];
    if (nodes === 1) {
      running.push(await startNode([...common, '--data', join(dir, 'n0')], []));
    } else {
      const cluster = ['--bleet', '127.0.0.1:0', '--replicas', '3'];
      // --prof-node i: which node writes the profile (default node 0).
      const profiled = (i: number) => (prof !== '' && i === Number(arg('prof-node', '0')) ? ['--cpu-prof', '--cpu-prof-dir', prof] : []);
      running.push(await startNode([...common, ...cluster, '--data', join(dir, 'n0')], profiled(0)));
      for (let i = 1; i < nodes; i++) running.push(await startNode([...common, ...cluster, '--data', join(dir, `n${i}`), '--peers', running[0]!.bleet], profiled(i)));
      // Wait until every node sees every other one and routes agree.
      for (;;) {
        const views = await Promise.all(running.map(async (n) => ((await (await fetch(`${n.url}/cluster`)).json()) as { members: unknown[] }).members.length));
        if (views.every((v) => v === nodes)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const table: Record<string, string> = {};
    for (let i = 0; i < BUCKETS; i++) table[bucketKey(i)] = await activeUrl(running[0]!, bucketKey(i));
    await seed(async (bucket) => table[bucket]!);
    // A flock nobody wrote to yet has no active node (its route names none, and the seed went
    // through node 0): the first write claimed it. Ask again, or ~15% of the load is forwarded.
    for (let i = 0; i < BUCKETS; i++) table[bucketKey(i)] = await activeUrl(running[0]!, bucketKey(i));
    if (prof !== '' && nodes === 1) {
      await stopNode(running.pop()!);
      const node = await startNode([...common, '--data', join(dir, 'n0')], ['--cpu-prof', '--cpu-prof-dir', prof]);
      running.push(node);
      for (const bucket of Object.keys(table)) table[bucket] = node.url;
    }
    // --one-active: only the buckets node 0 is active for, so node 0's cost is an active node's and the others' a replica's.
    if (process.argv.includes('--one-active')) for (const bucket of Object.keys(table)) if (table[bucket] !== running[0]!.url) delete table[bucket];
    const self = fileURLToPath(import.meta.url);
    const cpuBefore = await Promise.all(running.map((n) => cpuSeconds(n.child.pid!)));
    const logBefore = await Promise.all(running.map((n) => logTotals(n.url)));
    const child = spawn(process.execPath, [self, '--load', JSON.stringify(table), '--job', job, '--body', arg('body', 'json'), '--seconds', arg('seconds', '10'), '--connections', arg('connections', '32')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    await new Promise((resolve) => child.once('exit', resolve));
    const cpuAfter = await Promise.all(running.map((n) => cpuSeconds(n.child.pid!)));
    const logAfter = await Promise.all(running.map((n) => logTotals(n.url)));
    // Group commit per node: commits per log batch during the run.
    const commitsPerBatch = logAfter.map((a, i) => Math.round(((a.commits - logBefore[i]!.commits) / Math.max(1, a.batches - logBefore[i]!.batches)) * 10) / 10);
    const rssMb = await readFile(`/proc/${running[0]!.child.pid}/status`, 'utf8').then(
      (status) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024),
      () => null,
    );
    if (process.argv.includes('--threads')) console.log(await threadCpu(running[0]!.child.pid!));
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { reqPerSec: number };
    const served = result.reqPerSec * Number(arg('seconds', '10'));
    const perRequest = (which: 'process' | 'main') =>
      cpuBefore.every((c) => c !== null) && cpuAfter.every((c) => c !== null)
        ? Math.round((cpuAfter.reduce((n, c, i) => n + c![which] - cpuBefore[i]![which], 0) / served) * 1e6)
        : null;
    // Per node: where the cost of a request falls (the active nodes and their replicas).
    const perNode = cpuBefore.every((c) => c !== null) && cpuAfter.every((c) => c !== null) ? cpuAfter.map((c, i) => Math.round(((c!.process - cpuBefore[i]!.process) / served) * 1e6)) : null;
    console.log(
      `job ${job}, ${nodes} node(s), fsync ${arg('fsync', 'always')}: ${JSON.stringify({ ...result, cpuUsPerReq: perRequest('process'), mainThreadUsPerReq: perRequest('main'), perNodeUs: perNode, commitsPerBatch, rssMb })}`,
    );
  } finally {
    for (const node of running) await stopNode(node);
    await rm(dir, { recursive: true, force: true });
  }
}

async function stopNode(node: Node): Promise<void> {
  const exited = new Promise((resolve) => (node.child.exitCode !== null ? resolve(null) : node.child.once('exit', resolve)));
  node.child.kill('SIGTERM');
  await exited;
}

if (process.argv.includes('--load')) await load();
else await main();
