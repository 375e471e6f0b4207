/**
 * The fault harness: a cluster of real `grex start` processes on 127.0.0.1
 * driven through a seeded schedule of faults — SIGKILL and restart,
 * partitions through each node's fault-injection hook (`PUT /debug/faults`)
 * and heals — while one client per bucket runs jobs and records every
 * outcome for the checker. Half the buckets run `counter` (a put of the
 * whole count), the other half `customer-add` (ctx.append: a delta; its count
 * is the list's length, so the same checker applies). The same seed gives
 * the same schedule.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { unpack } from 'msgpackr';
import type { TestContext } from 'node:test';
import { Checker } from '../helpers/checker.js';
import { requestJson } from '../helpers/http.js';
import { exampleJobs } from '../helpers/paths.js';
import { startNodeProcess, type NodeProcess } from '../helpers/processes.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

export interface FaultRunOptions {
  seed: number;
  /** How long faults are injected, in seconds. */
  seconds: number;
  nodes?: number;
  buckets?: number;
  /** Printed as the run goes (default: nothing). */
  log?: (line: string) => void;
  /** Where each node process's log (debug level) and every client outcome are written, to debug a failure. */
  logDir?: string;
}

export interface FaultRunResult {
  problems: string[];
  summary: string;
  events: string[];
  acknowledged: number;
}

interface Member {
  name: string;
  data: string;
  proc: NodeProcess | null;
}

const NODE_ARGS = ['--workers', '1', '--fault-injection', 'true', '--anti-entropy-ms', '500', '--job-timeout-ms', '5000', '--bleet-timeout-ms', '2000'];

/** What a bucket's client runs, and the item that holds its count. */
interface Workload {
  job: string;
  body: string;
  item: string;
  /** The count the stored item stands for. */
  countOf: (value: unknown) => number;
}

const COUNTER: Workload = { job: 'counter', body: '{}', item: 'count', countOf: (value) => value as number };
const APPENDS: Workload = {
  job: 'customer-add',
  body: JSON.stringify({ type: 'orders', record: { description: 'fault test', amount: 1 } }),
  item: 'orders',
  countOf: (value) => (value as unknown[]).length,
};

/** Outcome of one HTTP job: an acknowledged count, or an error code (undefined: no answer). */
/** A counter job, as the rebalancing tests run it. */
export function runCounter(url: string, bucket: string): Promise<{ count: number } | { code: string | undefined; sent: boolean }> {
  return runJob(url, bucket, COUNTER);
}

export async function runJob(url: string, bucket: string, workload: Workload): Promise<{ count: number } | { code: string | undefined; sent: boolean }> {
  try {
    const response = await fetch(`${url}/buckets/${bucket}/jobs/${workload.job}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: workload.body,
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json()) as { result?: { count: number }; error?: { code: string } };
    if (response.ok && body.result !== undefined) return { count: body.result.count };
    return { code: body.error?.code, sent: true };
  } catch (err) {
    // A connection that never opened: the job cannot have run.
    const code = (err as { cause?: { code?: string } }).cause?.code;
    return { code: code === 'ECONNREFUSED' ? 'GREX_ERR_NOT_READY' : undefined, sent: code !== 'ECONNREFUSED' };
  }
}

/** What a run with `logDir` keeps: every node process started, and each client outcome and fault with its time. */
class FaultTrace {
  readonly #procs: { name: string; proc: NodeProcess }[] = [];
  readonly #lines: string[] = [];

  started(name: string, proc: NodeProcess): void {
    this.#procs.push({ name, proc });
  }

  line(text: string): void {
    this.#lines.push(`${new Date().toISOString()} ${text}`);
  }

  async write(dir: string): Promise<void> {
    await Promise.all(this.#procs.map(({ name, proc }, i) => writeFile(join(dir, `${String(i).padStart(2, '0')}-${name}.log`), proc.output())));
    await writeFile(join(dir, 'clients.log'), `${this.#lines.join('\n')}\n`);
  }
}

export async function runFaults(t: Pick<TestContext, 'after'>, options: FaultRunOptions): Promise<FaultRunResult> {
  const trace = options.logDir === undefined ? undefined : new FaultTrace();
  try {
    return await faultRun(t, options, trace);
  } finally {
    if (trace !== undefined) await trace.write(options.logDir!);
  }
}

async function faultRun(t: Pick<TestContext, 'after'>, options: FaultRunOptions, trace: FaultTrace | undefined): Promise<FaultRunResult> {
  const random = prng(options.seed);
  const log = options.log ?? (() => {});
  const events: string[] = [];
  const note = (event: string) => {
    events.push(event);
    trace?.line(event);
    log(event);
  };
  const members: Member[] = [];
  const count = options.nodes ?? 3;
  const live = () => members.filter((m) => m.proc !== null);

  const start = async (member: Member, seeds: readonly Member[]) => {
    const args = ['--http', '127.0.0.1:0', '--bleet', '127.0.0.1:0', '--data', member.data, '--jobs', exampleJobs, '--node-id', member.name, ...NODE_ARGS];
    if (trace !== undefined) args.push('--log-level', 'debug');
    const peers = seeds.filter((s) => s.proc !== null && s !== member).map((s) => s.proc!.bleetAddress);
    if (peers.length > 0) args.push('--peers', peers.join(','));
    member.proc = await startNodeProcess(t, args);
    trace?.started(member.name, member.proc);
  };

  for (let i = 0; i < count; i++) {
    const member: Member = { name: `node-${i + 1}`, data: await tempDir(t, `grex-fault-${i + 1}-`), proc: null };
    members.push(member);
    await start(member, members.slice(0, 1));
  }
  const settled = async () =>
    waitFor(
      async () => {
        const views = await Promise.all(live().map(async (m) => (await requestJson(`${m.proc!.url}/cluster`)).body));
        return views.every((v) =>
          live().every((m) => v.members.some((x: { nodeId: string; state: string; connected: boolean }) => x.nodeId === m.name && x.state === 'alive' && (x.connected || x.nodeId === v.nodeId))),
        );
      },
      { what: 'the live nodes to see each other', timeoutMs: 60_000, intervalMs: 100 },
    );
  await settled();

  const partitioned = new Set<string>();
  const block = async (member: Member, blocked: string[]) => {
    if (member.proc === null) return;
    await requestJson(`${member.proc.url}/debug/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ blocked }) }).catch(() => {});
  };
  const heal = async () => {
    partitioned.clear();
    await Promise.all(members.map((m) => block(m, [])));
  };

  // The clients: one sequential loop per bucket, to a random live node each time.
  const checker = new Checker();
  const buckets = Array.from({ length: options.buckets ?? 6 }, (_, i) => `customer-${i}`);
  const workloadOf = (bucket: string) => (Number(bucket.split('-')[1]) % 2 === 0 ? COUNTER : APPENDS);
  let running = true;
  const clients = buckets.map(async (bucket) => {
    const pick = prng(options.seed + bucket.length * 7919 + Number(bucket.split('-')[1]));
    while (running) {
      const candidates = live();
      const target = candidates[Math.floor(pick() * candidates.length)];
      if (target?.proc == null) {
        await sleep(20);
        continue;
      }
      const outcome = await runJob(target.proc.url, bucket, workloadOf(bucket));
      if ('count' in outcome) checker.acknowledged(bucket, outcome.count);
      else checker.failed(bucket, outcome.code);
      trace?.line(`${bucket} via ${target.name}: ${JSON.stringify(outcome)}`);
      if (!('count' in outcome)) await sleep(20);
    }
  });

  // The schedule: one fault every 1-2.5 s; at most one node down and one cut off at a time.
  const until = Date.now() + options.seconds * 1000;
  while (Date.now() < until) {
    await sleep(1000 + Math.floor(random() * 1500));
    const down = members.find((m) => m.proc === null);
    const choice = random();
    if (down !== undefined && (choice < 0.5 || Date.now() >= until)) {
      await start(down, live());
      note(`restart ${down.name}`);
    } else if (down === undefined && choice < 0.4) {
      const victim = live()[Math.floor(random() * live().length)]!;
      await victim.proc!.stop('SIGKILL');
      victim.proc = null;
      note(`SIGKILL ${victim.name}`);
    } else if (partitioned.size === 0 && choice < 0.75) {
      const victim = live()[Math.floor(random() * live().length)]!;
      partitioned.add(victim.name);
      await block(victim, members.filter((m) => m !== victim).map((m) => m.name));
      await Promise.all(members.filter((m) => m !== victim).map((m) => block(m, [victim.name])));
      note(`partition ${victim.name}`);
    } else if (partitioned.size > 0) {
      await heal();
      note('heal');
    }
  }

  // Heal everything, bring everyone back, let the cluster settle, stop the clients.
  await heal();
  for (const member of members) if (member.proc === null) await start(member, live());
  await settled();
  running = false;
  await Promise.all(clients);
  note('healed');

  // Final counts (read from each bucket's active node, through any node) and identical replicas.
  const finals = new Map<string, number>();
  for (const bucket of buckets) {
    const final = await waitFor(
      async () => {
        const { item, countOf } = workloadOf(bucket);
        const res = await fetch(`${live()[0]!.proc!.url}/buckets/${bucket}/items/${item}`);
        if (res.status === 404) return 0;
        if (res.status !== 200) return undefined;
        return countOf(unpack(Buffer.from(await res.arrayBuffer())));
      },
      { what: `the final count of ${bucket}`, timeoutMs: 60_000 },
    );
    finals.set(bucket, final);
  }
  const problems = checker.problems(finals);
  for (const bucket of buckets) {
    const same = await waitFor(
      async () => {
        const versions = await Promise.all(
          live().map(async (m) => {
            const res = await fetch(`${m.proc!.url}/buckets/${bucket}/items/${workloadOf(bucket).item}?local=true`);
            const bytes = Buffer.from(await res.arrayBuffer());
            // The same version must mean the same bytes (an append composed alike everywhere).
            return res.status === 200 ? `${res.headers.get('grex-version')} ${bytes.toString('hex')}` : `status ${res.status}`;
          }),
        );
        return versions.every((v) => v === versions[0]) ? versions[0] : false;
      },
      { what: `every herder at one version of ${bucket}`, timeoutMs: 60_000, intervalMs: 200 },
    ).catch((err: Error) => err);
    if (same instanceof Error) {
      const views = await Promise.all(
        live().map(async (m) => {
          const res = await fetch(`${m.proc!.url}/buckets/${bucket}/items/${workloadOf(bucket).item}?local=true`).catch(() => null);
          await res?.arrayBuffer();
          const flock = (await requestJson(`${m.proc!.url}/route/${bucket}`)).body.flock as number;
          const lead = (await requestJson(`${m.proc!.url}/cluster/flocks/${flock}`)).body;
          return `${m.name}: ${res?.headers.get('grex-version') ?? res?.status} ${JSON.stringify(lead)}`;
        }),
      );
      problems.push(`${bucket}: ${same.message}\n  ${views.join('\n  ')}`);
    }
  }
  const acknowledged = [...checker.buckets.values()].reduce((n, h) => n + h.acknowledged, 0);
  return { problems, summary: checker.summary(), events, acknowledged };
}
