/**
 * Rebalancing under load: how long a fourth node takes to join a three-node
 * farm (and one node to leave it), how fast flocks are copied, and what the
 * jobs running meanwhile see.
 *
 *   npm run bench:rebalance [-- --customers 10000 --records 200 --rate 200 --transfer-mbps 64,256 --replicas 3 --no-leave --logs DIR --profile DIR | --quick]
 *
 * Per `--transfer-mbps` value, a fresh run: three `grex start` processes
 * (default options but `--replicas` and `--transfer-mbps`, jobs from
 * bench/jobs), seeded with `customers` lists of `records` records (~7.5 KiB
 * each at 200) by PUT; a steady load of append-record jobs (bench/rebalance-load.ts,
 * a worker thread) runs a warm-up, then a baseline window, then a fourth
 * node starts and joins through the first. The farm is settled when every
 * node agrees on the members and map, every claimed flock is herded by
 * exactly its target herders and no copy is in progress (GET /cluster on
 * every node, every 200 ms). Then (unless --no-leave) the second node is told
 * to leave (POST /cluster/leave) and the same is timed until it exited and
 * the other three are settled. At the end every acknowledged append is looked
 * for in its customer's list (a lost acknowledged write fails the run).
 * Results go to docs/benchmarks.md ("Rebalancing").
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { parseFarm } from '../src/cluster/farm-map.js';
import { requestJson } from '../test/helpers/http.js';
import { repoRoot } from '../test/helpers/paths.js';
import { waitForSettled } from '../test/helpers/process-cluster.js';
import { startNodeProcess, type NodeProcess } from '../test/helpers/processes.js';
import { tempDir } from '../test/helpers/temp-dir.js';
import type { ClusterView } from '../test/helpers/rebalance.js';
import { customerKey, type LoadOptions, type LoadReport, type PhaseReport } from './rebalance-load.js';
import { loadNote, machine, writeSection } from './report.js';
import { Scope } from './scope.js';
import { BENCH_JOBS } from './systems/grex.js';
import { putLists } from './systems/seed.js';
import { encodedSeedList, listCodec, type BenchRecord } from './workload.js';

/** Taken before anything starts: how busy the machine was. */
const STARTING_LOAD = loadNote();
const MIB = 1024 * 1024;

interface Options {
  customers: number;
  records: number;
  rate: number;
  clients: number;
  baselineSec: number;
  transferMbps: number[];
  replicas: number;
  leave: boolean;
  settleTimeoutSec: number;
  outDir: string;
  /** Folder to write each node's log to (`<mbps>-<node>.log`), for looking into a run. */
  logsDir: string | null;
  /** Folder for node --cpu-prof profiles of every node (`<dir>/<mbps>-<node>`; see bench/profile-summary.ts). */
  profileDir: string | null;
  quick: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      customers: { type: 'string' },
      records: { type: 'string' },
      rate: { type: 'string' },
      clients: { type: 'string' },
      baseline: { type: 'string' },
      'transfer-mbps': { type: 'string' },
      replicas: { type: 'string' },
      'no-leave': { type: 'boolean', default: false },
      'settle-timeout': { type: 'string' },
      out: { type: 'string' },
      logs: { type: 'string' },
      profile: { type: 'string' },
      quick: { type: 'boolean', default: false },
    },
  });
  const positive = (name: string, text: string | undefined, fallback: number) => {
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  const quick = values.quick;
  return {
    customers: Math.round(positive('customers', values.customers, quick ? 300 : 10_000)),
    records: Math.round(positive('records', values.records, 200)),
    rate: positive('rate', values.rate, quick ? 50 : 200),
    clients: Math.round(positive('clients', values.clients, quick ? 4 : 16)),
    baselineSec: positive('baseline', values.baseline, quick ? 1 : 15),
    transferMbps: (values['transfer-mbps'] ?? (quick ? '64' : '64,256')).split(',').map((v) => positive('transfer-mbps', v, 64)),
    replicas: Math.round(positive('replicas', values.replicas, 3)),
    leave: !values['no-leave'],
    settleTimeoutSec: positive('settle-timeout', values['settle-timeout'], quick ? 60 : 600),
    outDir: values.out ?? join(repoRoot, 'docs'),
    logsDir: values.logs ?? null,
    profileDir: values.profile ?? null,
    quick,
  };
}

interface BenchNode {
  name: string;
  proc: NodeProcess;
}

async function startBenchNode(scope: Scope, name: string, seed: BenchNode | null, options: Options, mbps: number): Promise<BenchNode> {
  const data = await tempDir(scope, `grex-rebalance-${name}-`);
  const args = ['--http', '127.0.0.1:0', '--bleet', '127.0.0.1:0', '--data', data, '--jobs', BENCH_JOBS, '--node-id', name];
  args.push('--replicas', String(options.replicas), '--transfer-mbps', String(mbps));
  if (seed !== null) args.push('--peers', seed.proc.bleetAddress);
  const nodeArgs = options.profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(options.profileDir, `${mbps}-${name}`)}`];
  const proc = await startNodeProcess(scope, args, { nodeArgs });
  return { name, proc };
}

const view = async (node: BenchNode): Promise<ClusterView> => (await requestJson(`${node.proc.url}/cluster`)).body as ClusterView;

/** Settled: the live nodes agree on members and map, every claimed flock has exactly its target herders, nothing is copied. */
function settled(views: ClusterView[], live: ReadonlySet<string>): boolean {
  return views.every(
    (v) =>
      v.mapVersion === views[0]!.mapVersion &&
      v.members.every((m) => (live.has(m.nodeId) ? m.state === 'alive' && m.herd && m.learning === 0 : !m.herd || m.removed === true)) &&
      v.members.filter((m) => live.has(m.nodeId)).length === live.size &&
      v.flockStates.moving === 0 &&
      v.flockStates.settled > 0 &&
      v.transfers.length === 0,
  );
}

interface Watch {
  /** ms from the start of the step until settled. */
  settledMs: number;
  /** Most flocks being copied at once (over all nodes). */
  maxCopying: number;
  /** ms from the start of the step to the first and the last poll that saw a copy in progress. */
  firstCopyMs: number;
  lastCopyMs: number;
}

/** Polls every node of `live` until settled (or the timeout): when, and how many copies ran at once. */
async function watchUntilSettled(live: BenchNode[], startedAt: number, timeoutSec: number, progress: (line: string) => void, cpu?: CpuMeter): Promise<Watch> {
  const names = new Set(live.map((n) => n.name));
  const watch: Watch = { settledMs: NaN, maxCopying: 0, firstCopyMs: NaN, lastCopyMs: NaN };
  let lastPrint = 0;
  while (Date.now() - startedAt < timeoutSec * 1000) {
    const views = await Promise.all(live.map((n) => view(n).catch(() => null)));
    cpu?.sample();
    const now = Date.now() - startedAt;
    const ok = views.filter((v): v is ClusterView => v !== null);
    const copying = ok.reduce((sum, v) => sum + v.transfers.length, 0);
    if (copying > 0) {
      if (Number.isNaN(watch.firstCopyMs)) watch.firstCopyMs = now;
      watch.lastCopyMs = now;
      watch.maxCopying = Math.max(watch.maxCopying, copying);
    }
    if (ok.length === live.length && settled(ok, names)) {
      watch.settledMs = now;
      return watch;
    }
    if (now - lastPrint >= 5000) {
      lastPrint = now;
      const moving = views.map((v, i) =>
        v === null ? `${live[i]!.name} did not answer` : `${live[i]!.name} moving ${v.flockStates.moving} copying ${v.transfers.length} copied ${(v.counters.transferBytes / MIB).toFixed(1)} MiB`,
      );
      progress(`  ${(now / 1000).toFixed(1)} s: ${moving.join('; ')}`);
    }
    await sleep(200);
  }
  throw new Error(`the farm did not settle within ${timeoutSec} s`);
}

/**
 * CPU seconds (user + system, every thread) the node processes use over a
 * step, from /proc/<pid>/stat (Linux; NaN elsewhere): what the step cost,
 * however busy the machine was. A node's last reading before it exits counts.
 */
class CpuMeter {
  readonly #start = new Map<BenchNode, number>();
  readonly #last = new Map<BenchNode, number>();

  constructor(nodes: readonly BenchNode[]) {
    for (const node of nodes) this.add(node);
  }

  /** Starts counting a node's CPU from now. */
  add(node: BenchNode): void {
    const now = cpuSeconds(node.proc.child.pid);
    this.#start.set(node, now);
    this.#last.set(node, now);
  }

  sample(): void {
    for (const node of this.#start.keys()) {
      const now = cpuSeconds(node.proc.child.pid);
      if (Number.isFinite(now)) this.#last.set(node, now);
    }
  }

  get seconds(): number {
    this.sample();
    let sum = 0;
    for (const [node, start] of this.#start) sum += this.#last.get(node)! - start;
    return sum;
  }
}

function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime and stime are fields 14 and 15, in ticks of 1/100 s.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

interface FlockCopy {
  flock: number;
  bytes: number;
  ms: number;
}

/** The flocks a node finished copying since `since` (its "caught up" log lines). */
function flockCopies(node: BenchNode, since: number): FlockCopy[] {
  const copies: FlockCopy[] = [];
  for (const line of node.proc.output().split('\n')) {
    if (!line.includes('caught up: herding a flock')) continue;
    try {
      const entry = JSON.parse(line) as { time: number; flock: number; bytes: number; ms: number };
      if (entry.time >= since) copies.push({ flock: entry.flock, bytes: entry.bytes, ms: entry.ms });
    } catch {
      // not a whole line yet
    }
  }
  return copies;
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface StepResult {
  step: 'join' | 'leave';
  watch: Watch;
  /** Leave: ms until the leaving node exited (with code `exitCode`). */
  exitMs?: number;
  exitCode?: number | string;
  copiedBytes: number;
  copies: FlockCopy[];
  promoted: number;
  dropped: number;
  /** Requests refused before anything was stored and run once more on the next active node (counters.rerouted). */
  rerouted: number;
  /** CPU seconds the nodes used from the start of the step until settled (see CpuMeter). */
  cpuSeconds: number;
  /** Flocks the joining node herds once settled (join only). */
  herdedByNew?: number;
}

interface RunResult {
  mbps: number;
  seedBytes: number;
  seedSec: number;
  steps: StepResult[];
  phases: PhaseReport[];
  ackedChecked: number;
  lost: string[];
  /** CPU seconds per second the three nodes used in the baseline (the jobs alone). */
  baselineCpuPerSec: number;
}

const sumCounters = (views: ClusterView[], key: keyof ClusterView['counters']) => views.reduce((sum, v) => sum + v.counters[key], 0);

/** Every acknowledged append must be in its customer's list (as the active node has it). */
async function lostWrites(acked: [string, string][], node: BenchNode, keep: number): Promise<{ checked: number; lost: string[] }> {
  const byCustomer = new Map<string, string[]>();
  for (const [customer, description] of acked) byCustomer.set(customer, [...(byCustomer.get(customer) ?? []), description]);
  const lost: string[] = [];
  let checked = 0;
  const customers = [...byCustomer.keys()];
  let next = 0;
  const worker = async () => {
    while (next < customers.length) {
      const customer = customers[next++]!;
      const descriptions = byCustomer.get(customer)!;
      // Only the newest `keep` records stay in a list: more appends than that to one customer cannot be checked this way.
      if (descriptions.length > keep / 2) continue;
      const res = await fetch(`${node.proc.url}/buckets/${customer}/items/records`);
      if (!res.ok) throw new Error(`reading ${customer}: ${res.status} ${await res.text()}`);
      const list = listCodec.unpack(Buffer.from(await res.arrayBuffer())) as BenchRecord[];
      const held = new Set(list.map((r) => r.description));
      for (const description of descriptions) {
        checked++;
        if (!held.has(description)) lost.push(`${customer}: ${description}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return { checked, lost };
}

async function run(options: Options, mbps: number, log: (line: string) => void): Promise<RunResult> {
  const scope = new Scope();
  const started: BenchNode[] = [];
  const startNode = async (...args: Parameters<typeof startBenchNode>) => {
    const node = await startBenchNode(...args);
    started.push(node);
    return node;
  };
  try {
    const a = await startNode(scope, 'node-a', null, options, mbps);
    const [b, c] = await Promise.all([startNode(scope, 'node-b', a, options, mbps), startNode(scope, 'node-c', a, options, mbps)]);
    const first = [a, b, c];
    await waitForSettled(first.map((n) => n.proc));
    // Seed: every customer's list, PUT through node-a.
    const keys = Array.from({ length: options.customers }, (_, i) => customerKey(i));
    let seedBytes = 0;
    for (const key of keys) seedBytes += encodedSeedList(key, options.records).byteLength;
    const seedStart = Date.now();
    await putLists((key) => `${a.proc.url}/buckets/${key}/items/records`, keys, options.records);
    const seedSec = (Date.now() - seedStart) / 1000;
    log(`seeded ${options.customers} customers, ${(seedBytes / MIB).toFixed(1)} MiB, in ${seedSec.toFixed(1)} s`);
    await watchUntilSettled(first, Date.now(), options.settleTimeoutSec, log);

    const loadOptions: LoadOptions = { urls: first.map((n) => n.proc.url), customers: options.customers, rate: options.rate, clients: options.clients, timeoutMs: 10_000 };
    const worker = new Worker(new URL('./rebalance-load.js', import.meta.url), { workerData: loadOptions });
    const reported = once(worker, 'message') as Promise<[LoadReport]>;
    const failed = once(worker, 'error').then(([err]) => Promise.reject(err as Error));
    failed.catch(() => {});
    scope.after(() => worker.terminate());
    // Warm-up: the nodes still write the seeded items' files behind their logs for a while.
    await sleep(options.quick ? 500 : 10_000);
    worker.postMessage({ phase: 'baseline' });
    const baselineCpu = new CpuMeter(first);
    const baselineAt = Date.now();
    await sleep(options.baselineSec * 1000);
    const baselineCpuPerSec = baselineCpu.seconds / ((Date.now() - baselineAt) / 1000);

    // A fourth node joins.
    const steps: StepResult[] = [];
    const before = await Promise.all(first.map(view));
    const joinAt = Date.now();
    const joinCpu = new CpuMeter(first);
    worker.postMessage({ phase: 'join' });
    const d = await startNode(scope, 'node-d', a, options, mbps);
    log(`node-d ready after ${Date.now() - joinAt} ms`);
    // From ready: its start (loading and compiling jobs) is not the join's cost.
    joinCpu.add(d);
    const all = [a, b, c, d];
    const joinWatch = await watchUntilSettled(all, joinAt, options.settleTimeoutSec, log, joinCpu);
    const joinCpuSeconds = joinCpu.seconds;
    worker.postMessage({ phase: 'after join' });
    const joined = await Promise.all(all.map(view));
    const dView = joined[3]!;
    steps.push({
      step: 'join',
      watch: joinWatch,
      copiedBytes: sumCounters(joined, 'transferBytes') - sumCounters(before, 'transferBytes'),
      copies: all.flatMap((n) => flockCopies(n, joinAt)),
      promoted: sumCounters(joined, 'flocksPromoted') - sumCounters(before, 'flocksPromoted'),
      dropped: sumCounters(joined, 'flocksDropped') - sumCounters(before, 'flocksDropped'),
      rerouted: sumCounters(joined, 'rerouted') - sumCounters(before, 'rerouted'),
      cpuSeconds: joinCpuSeconds,
      herdedByNew: dView.herdingFlocks === '' ? 0 : parseFarm(dView.herdingFlocks, 1024).length,
    });
    log(`join settled after ${joinWatch.settledMs} ms`);
    // Clients learn of the new node (as a load balancer would).
    worker.postMessage({ urls: all.map((n) => n.proc.url) });
    await sleep(options.quick ? 500 : 5000);

    if (options.leave) {
      const rest = [a, c, d];
      worker.postMessage({ urls: rest.map((n) => n.proc.url) });
      await sleep(200);
      const beforeLeave = await Promise.all(rest.map(view));
      const leaveAt = Date.now();
      const leaveCpu = new CpuMeter([...rest, b]);
      worker.postMessage({ phase: 'leave' });
      const exited = b.proc.stop('SIGCONT').then((code) => ({ code, ms: Date.now() - leaveAt }));
      const answer = await requestJson(`${b.proc.url}/cluster/leave`, { method: 'POST' });
      if (answer.status !== 202) throw new Error(`POST /cluster/leave answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      const leaveWatch = await watchUntilSettled(rest, leaveAt, options.settleTimeoutSec, log, leaveCpu);
      const leaveCpuSeconds = leaveCpu.seconds;
      const exit = await exited;
      worker.postMessage({ phase: 'after leave' });
      const left = await Promise.all(rest.map(view));
      steps.push({
        step: 'leave',
        watch: leaveWatch,
        exitMs: exit.ms,
        exitCode: exit.code,
        copiedBytes: sumCounters(left, 'transferBytes') - sumCounters(beforeLeave, 'transferBytes'),
        copies: rest.flatMap((n) => flockCopies(n, leaveAt)),
        promoted: sumCounters(left, 'flocksPromoted') - sumCounters(beforeLeave, 'flocksPromoted'),
        dropped: sumCounters(left, 'flocksDropped') - sumCounters(beforeLeave, 'flocksDropped'),
        rerouted: sumCounters(left, 'rerouted') - sumCounters(beforeLeave, 'rerouted'),
        cpuSeconds: leaveCpuSeconds,
      });
      log(`leave settled after ${leaveWatch.settledMs} ms (node-b exited with ${exit.code} after ${exit.ms} ms)`);
      await sleep(options.quick ? 500 : 3000);
    }

    worker.postMessage({ stop: true });
    const [report] = await Promise.race([reported, failed]);
    for (const [code, message] of Object.entries(report.samples)) log(`  first ${code}: ${message}`);
    const { checked, lost } = await lostWrites(report.acked, a, options.records);
    return { mbps, seedBytes, seedSec, steps, phases: report.phases.filter((p) => p.phase !== 'warmup'), ackedChecked: checked, lost, baselineCpuPerSec };
  } finally {
    // A profile is written only by a node that exits by itself.
    if (options.profileDir !== null) await Promise.all(started.map((node) => node.proc.stop('SIGTERM')));
    await scope.close();
    if (options.logsDir !== null) {
      await mkdir(options.logsDir, { recursive: true });
      for (const node of started) await writeFile(join(options.logsDir, `${mbps}-${node.name}.log`), node.proc.output());
    }
  }
}

const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
/** Three significant digits: rates of tiny runs do not round to 0. */
const rate = (n: number) => (Number.isFinite(n) ? String(Number(n.toPrecision(3))) : '–');
const errorsText = (errors: Record<string, number>) => {
  const total = Object.values(errors).reduce((a, b) => a + b, 0);
  return total === 0 ? '0' : `${total} (${Object.entries(errors).map(([code, n]) => `${code.replace('GREX_ERR_', '')} ×${n}`).join(', ')})`;
};

function stepRow(run: RunResult, step: StepResult): string {
  const seconds = step.watch.settledMs / 1000;
  const copyWindow = (step.watch.lastCopyMs - step.watch.firstCopyMs) / 1000;
  const mib = step.copiedBytes / MIB;
  const perFlock = step.copies.filter((c) => c.ms > 0).map((c) => c.bytes / MIB / (c.ms / 1000));
  const cells = [
    step.step,
    String(run.mbps),
    fixed(seconds),
    step.exitMs === undefined ? '–' : `${fixed(step.exitMs / 1000)} (exit ${step.exitCode})`,
    fixed(mib),
    String(step.copies.length),
    rate(mib / seconds),
    rate(copyWindow > 0 ? mib / copyWindow : NaN),
    rate(median(perFlock)),
    fixed(median(step.copies.map((c) => c.ms)) / 1000, 2),
    fixed(Math.max(0, ...step.copies.map((c) => c.ms)) / 1000, 2),
    String(step.watch.maxCopying),
    String(step.promoted),
    String(step.dropped),
    String(step.rerouted),
    fixed(step.cpuSeconds),
  ];
  return `| ${cells.join(' | ')} |`;
}

function reportBody(options: Options, runs: RunResult[], command: string): string {
  const first = runs[0]!;
  const joinRows = runs.flatMap((r) => r.steps.map((s) => stepRow(r, s)));
  const jobRows = runs.flatMap((r) =>
    r.phases.map((p) =>
      `| ${r.mbps} | ${p.phase} | ${fixed(p.seconds)} | ${p.requests} | ${fixed(p.acknowledged / p.seconds, 0)} | ${fixed(p.p50Ms, 2)} | ${fixed(p.p99Ms, 2)} | ${fixed(p.maxMs, 1)} | ${errorsText(p.errors)} |`,
    ),
  );
  const checks = runs.map(
    (r) =>
      `| ${r.mbps} | ${r.steps.find((s) => s.step === 'join')?.herdedByNew ?? 0} | ${r.ackedChecked} | ${r.lost.length} | ${fixed(r.baselineCpuPerSec, 2)} |`,
  );
  return `## Rebalancing

A fourth node joins three, then (unless \`--no-leave\`) one of the first
three leaves with \`POST /cluster/leave\`, while jobs run. Three \`grex start\`
processes with default options but \`--replicas ${options.replicas}\`${
    options.replicas === 3
      ? ` (the default: every
flock on every node; with four nodes each flock needs 3 of them, so the
newcomer copies about 3/4 of the data, becomes the active node of about a
quarter of the flocks, and each old node drops a quarter)`
      : ''
  } and \`--transfer-mbps\` as in the first column (the
rate limit of copies *into* a node, MiB/s, default 64). Seeded with
${options.customers.toLocaleString('en-US')} customer lists of ${options.records} records
(${fixed(first.seedBytes / options.customers / 1024)} KiB each, ${fixed(first.seedBytes / MIB)} MiB
in all; ${fixed(first.seedSec)} s to PUT through one node in the first run).
Load: ${options.clients} closed-loop clients at ${options.rate} append-record jobs/s in all
(\`bench/jobs/append-record.ts\`, a random customer, a random node of the
cluster's first three — the leaving node is taken out of the list before it
leaves, the new one added once the join settled), in a worker thread of the
harness; latencies from send to answer, per phase (the phase a request was
sent in). Settled: every node's \`GET /cluster\` (polled every 200 ms) shows
the same members and map, every claimed flock herded by exactly its target
herders and no copy in progress. Times are from starting the fourth process
(join) or from \`POST /cluster/leave\`.

Machine: ${machine()}. ${STARTING_LOAD}. Command: \`${command}\`.

### Join and leave

Copied: item bytes fetched by the receiving nodes (\`transferBytes\`). MiB/s
"overall" divides them by the time to settle, "while copying" by the time
from the first to the last poll that saw a copy running. Per flock: from the
first page of its copy to its promotion (the receiving node's "caught up" log
line); many flocks are copied at once (up to 8 per active node), sharing the
receiving node's limit. Rerouted: jobs refused by the node they were sent to
before anything of them was stored (it was no longer the flock's active node,
or stepped down before the commit) and run once more on the next active
node by the node that took them (\`counters.rerouted\`); the errors the
clients still saw are in the next table. Node CPU: user + system seconds of
the node processes (all threads, from \`/proc\`) from the start of the step
until settled (the new node's from when it was ready): what the step and
the jobs meanwhile cost, however busy the machine was.

| step | limit (MiB/s) | settled after (s) | leaver exited after (s) | copied (MiB) | flocks copied | MiB/s overall | MiB/s while copying | per flock MiB/s (median) | per flock time, median (s) | per flock time, max (s) | most copies at once | promoted | dropped | rerouted | node CPU (s) |
|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${joinRows.join('\n')}

### Jobs before, during and after

| limit (MiB/s) | phase | seconds | requests | acknowledged/s | p50 (ms) | p99 (ms) | max (ms) | errors |
|---|---|---:|---:|---:|---:|---:|---:|---|
${jobRows.join('\n')}

### Checks

| limit (MiB/s) | flocks the new node herds | acknowledged appends checked | lost | node CPU in the baseline (s per s) |
|---|---:|---:|---:|---:|
${checks.join('\n')}
`;
}

const options = parseOptions(process.argv.slice(2));
const command = `npm run bench:rebalance${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const runs: RunResult[] = [];
for (const mbps of options.transferMbps) {
  console.log(`run with --transfer-mbps ${mbps}`);
  const result = await run(options, mbps, (line) => console.log(line));
  runs.push(result);
  for (const p of result.phases) console.log(`  ${p.phase}: ${p.requests} requests, p50 ${fixed(p.p50Ms, 2)} ms, p99 ${fixed(p.p99Ms, 2)} ms, max ${fixed(p.maxMs)} ms, errors ${errorsText(p.errors)}`);
  if (result.lost.length > 0) console.log(`  LOST acknowledged appends: ${result.lost.slice(0, 10).join('; ')}`);
}
const body = reportBody(options, runs, command);
await mkdir(options.outDir, { recursive: true });
await writeSection('rebalance', body, join(options.outDir, 'benchmarks.md'));
console.log(body);
const lost = runs.reduce((sum, r) => sum + r.lost.length, 0);
if (lost > 0) {
  console.error(`${lost} acknowledged appends were lost`);
  process.exitCode = 1;
}
