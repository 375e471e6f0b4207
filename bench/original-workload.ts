/**
 * The original Grex's own benchmark: 10 buckets, each one item holding
 * 20,000 records; encode and store on 3 replicas, in a loop.
 *
 *   npm run bench:original [-- --duration 10 --buckets 10 --records 20000 | --quick]
 *        [--config "label=--grex-flag value ..." ...] [--profile <dir>]
 *
 * Each `--config` starts its own cluster with those extra `grex start` flags
 * and measures both rows on it, one configuration after the other in the same
 * run (to compare settings side by side on a shared machine); without one,
 * the defaults. A word `cli=<path>` in the flags runs another build's
 * CLI script (dist/src/cli/grex.cjs; to compare code before and after a
 * change); a word `node=<flag>` is a flag for node itself (e.g.
 * `node=--initial-old-space-size=128`). `--profile <dir>`: the nodes run with `node --cpu-prof`,
 * profiles in `<dir>/<config>/` (summarise with bench/profile-summary.ts).
 *
 * A three-node cluster (`--replicas 3`, fsync `always`, a write waits for 2
 * of the 3 herders and is sent to all). One loop per bucket, each sending
 * its next call when the previous one is answered, straight to the bucket's
 * active node. Two ways to "encode and store", each a row:
 *
 * - job: `bench/jobs/original-store.ts` changes one record of the bucket's
 *   cached list and puts the whole list: the worker thread encodes all the
 *   records (msgpackr), the node stores and replicates the item.
 * - client encodes + PUT: the client encodes the list itself and PUTs the
 *   bytes (raw, as the original Grex stored whatever its app encoded).
 *
 * records/s = records per item × items stored per second; MB/s = encoded
 * item bytes stored per second (each stored on 3 nodes).
 */
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../test/helpers/paths.js';
import { loadNote, machine, writeSection } from './report.js';
import type { NodeProcess } from '../test/helpers/processes.js';
import { Scope } from './scope.js';
import { activeNodes, startGrexCluster } from './systems/grex.js';
import { originalList } from './jobs/_records.js';
import { listCodec } from './workload.js';

/** Taken before anything starts: how busy the machine was. */
const STARTING_LOAD = loadNote();

interface Config {
  label: string;
  grexArgs: string[];
  /** Another build's CLI script (a `cli=<path>` word in the flags). */
  cli?: string;
  /** Flags for node itself (`node=<flag>` words). */
  nodeArgs: string[];
}

interface Options {
  durationSec: number;
  buckets: number;
  records: number;
  outDir: string;
  configs: Config[];
  profileDir: string | null;
}

/** `label=--flag value ...` (no label: the flags are the label). */
function parseConfig(text: string): Config {
  const eq = text.indexOf('=');
  const words = (eq < 0 ? text : text.slice(eq + 1)).split(/\s+/).filter((a) => a.length > 0);
  const cli = words.find((w) => w.startsWith('cli='))?.slice(4);
  const config: Config = {
    label: eq < 0 ? text.trim() || 'defaults' : text.slice(0, eq).trim(),
    grexArgs: words.filter((w) => !w.startsWith('cli=') && !w.startsWith('node=')),
    nodeArgs: words.filter((w) => w.startsWith('node=')).map((w) => w.slice(5)),
  };
  return cli === undefined ? config : { ...config, cli };
}

export interface OriginalRow {
  label: string;
  stores: number;
  seconds: number;
  itemBytes: number;
  recordsPerSec: number;
  mbPerSec: number;
  errors: number;
  /** CPU time of the three node processes (all threads, user + system) per item stored. */
  cpuMsPerStore: number;
  /** Measured on another build (a `cli=` configuration): not counted toward the goal. */
  otherBuild?: boolean;
}

/** CPU seconds a process used so far, all threads (Linux /proc; 100 ticks a second). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs `measured` and adds the nodes' CPU time per store to its row. */
async function withCpu(nodes: NodeProcess[], measured: () => Promise<Omit<OriginalRow, 'cpuMsPerStore'>>): Promise<OriginalRow> {
  const total = async () => (await Promise.all(nodes.map((n) => cpuSeconds(n.child.pid!)))).reduce((a, b) => a + b, 0);
  const before = await total();
  const row = await measured();
  const used = (await total()) - before;
  return { ...row, cpuMsPerStore: row.stores === 0 ? 0 : (used * 1000) / row.stores };
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      buckets: { type: 'string' },
      records: { type: 'string' },
      out: { type: 'string' },
      config: { type: 'string', multiple: true },
      profile: { type: 'string' },
      quick: { type: 'boolean', default: false },
    },
  });
  const num = (name: string, text: string | undefined, fallback: number) => {
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  return {
    durationSec: num('duration', values.duration, values.quick ? 2 : 10),
    buckets: Math.round(num('buckets', values.buckets, 10)),
    records: Math.round(num('records', values.records, 20_000)),
    outDir: values.out ?? join(repoRoot, 'docs'),
    configs: (values.config ?? []).map(parseConfig),
    profileDir: values.profile ?? null,
  };
}


/** Runs `store(bucket, round)` in one loop per bucket for `seconds`; counts answers. */
async function loop(buckets: string[], seconds: number, store: (bucket: string, round: number) => Promise<boolean>): Promise<{ stores: number; errors: number; seconds: number }> {
  let stores = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    buckets.map(async (bucket) => {
      for (let round = 1; performance.now() < deadline; round++) {
        if (await store(bucket, round)) stores++;
        else errors++;
      }
    }),
  );
  return { stores, errors, seconds: (performance.now() - started) / 1000 };
}

async function ok(res: Response): Promise<boolean> {
  const text = await res.text();
  if (!res.ok) console.error(`${res.status} ${text.slice(0, 200)}`);
  return res.ok;
}

function row(label: string, run: { stores: number; errors: number; seconds: number }, records: number, itemBytes: number): Omit<OriginalRow, 'cpuMsPerStore'> {
  return {
    label,
    ...run,
    itemBytes,
    recordsPerSec: Math.round((run.stores * records) / run.seconds),
    mbPerSec: (run.stores * itemBytes) / run.seconds / 1e6,
  };
}

/** Both rows on a cluster of its own, started with the configuration's flags. */
async function measure(options: Options, config: Config | null): Promise<OriginalRow[]> {
  const scope = new Scope();
  const rows: OriginalRow[] = [];
  const suffix = config === null ? '' : ` — ${config.label}`;
  const profileDir = options.profileDir === null ? null : join(options.profileDir, (config?.label ?? 'defaults').replace(/[^A-Za-z0-9_.-]+/g, '-'));
  try {
    const nodes = await startGrexCluster(scope, {
      grexArgs: config?.grexArgs ?? [],
      grexNodeArgs: [...(config?.nodeArgs ?? []), ...(profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`])],
      ...(config?.cli === undefined ? {} : { cli: config.cli }),
    });
    const buckets = Array.from({ length: options.buckets }, (_, i) => `bucket-${i}`);
    const active = await activeNodes(nodes[0]!, buckets);
    const url = (bucket: string, path: string) => `${active.get(bucket)}/buckets/${bucket}/${path}`;

    const job = (bucket: string, round: number) =>
      fetch(url(bucket, 'jobs/original-store'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ records: options.records, round }),
      }).then(ok);
    // Warm-up: every bucket's list built, cached and stored once.
    await loop(buckets, Math.min(2, options.durationSec / 2), job);
    const itemBytes = Number((await fetch(url(buckets[0]!, 'items/records'))).headers.get('content-length'));
    rows.push(await withCpu(nodes, async () => row(`job (worker encodes, node stores on 3)${suffix}`, await loop(buckets, options.durationSec, job), options.records, itemBytes)));
    console.log(rows.at(-1));

    const lists = new Map(buckets.map((b) => [b, originalList(options.records)]));
    let putBytes = 0;
    const put = (bucket: string, round: number) => {
      const list = lists.get(bucket)!;
      const i = round % list.length;
      list[i] = { ...list[i]!, amount: round / 100 };
      const bytes = listCodec.pack(list);
      putBytes = bytes.byteLength;
      return fetch(url(bucket, 'items/raw-records'), { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes }).then(ok);
    };
    await loop(buckets, Math.min(2, options.durationSec / 2), put);
    rows.push(await withCpu(nodes, async () => row(`client encodes, PUT to the active node${suffix}`, await loop(buckets, options.durationSec, put), options.records, putBytes)));
    console.log(rows.at(-1));
  } finally {
    await scope.close();
  }
  return config?.cli === undefined ? rows : rows.map((r) => ({ ...r, otherBuild: true }));
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const rows: OriginalRow[] = [];
  for (const config of options.configs.length === 0 ? [null] : options.configs) rows.push(...(await measure(options, config)));
  const table = [
    '| encode and store | items stored | records/s | MB/s (per replica) | item size | errors | node CPU per store |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.label} | ${r.stores} | ${r.recordsPerSec.toLocaleString('en')} | ${r.mbPerSec.toFixed(1)} | ${(r.itemBytes / 1e6).toFixed(2)} MB | ${r.errors} | ${r.cpuMsPerStore.toFixed(1)} ms |`,
    ),
  ].join('\n');
  const endingLoad = loadavg()[0]!.toFixed(1);
  const best = rows.filter((r) => r.otherBuild !== true).reduce((a, b) => (b.recordsPerSec > a.recordsPerSec ? b : a));
  const quoted = process.argv.slice(2).map((a) => (/[\s=]/.test(a) ? `"${a}"` : a));
  const configs = options.configs.length === 0 ? '' : `
Configurations, each its own cluster, measured one after the other in this run:
${options.configs.map((c) => `\`${c.label}\` (${c.cli === undefined ? 'this build' : `the build at \`${c.cli}\``}${c.grexArgs.length === 0 ? '' : `, \`${c.grexArgs.join(' ')}\``}${c.nodeArgs.length === 0 ? '' : `, node \`${c.nodeArgs.join(' ')}\``})`).join('; ')}.
`;
  const body = `## The original Grex's workload

${options.buckets} buckets, each one item holding ${options.records.toLocaleString('en')} records
\`{ description, other, amount, date }\`; encode and store, in a loop, on a
three-node cluster with \`--replicas 3\` (fsync \`always\`; a store is answered
once 2 of the 3 herders hold it, and is sent to all 3). One loop per bucket,
straight to the bucket's active node, ${options.durationSec} s each.

- **job**: \`bench/jobs/original-store.ts\` changes one record of the bucket's
  cached list and puts the whole list: the job's worker thread encodes all
  ${options.records.toLocaleString('en')} records (msgpackr), the node writes the item to its log and
  ships it to the other two.
- **client encodes, PUT**: the client encodes the list itself and PUTs the
  bytes, as the original Grex's app encoded its items (gob) and stored bytes.

*Node CPU per store* is the CPU time (user + system, every thread) the three
node processes used during the row, per item stored: unlike the rates, it
hardly depends on how busy the machine was. Two cores give at most
2,000 ms of CPU a second, so 2,000 ÷ (node CPU per store) stores/s is this
machine's ceiling for a row even with nothing else running.
${configs}
Machine: ${machine()}. ${STARTING_LOAD}; ${endingLoad} when it ended. Command: \`npm run bench:original${quoted.length > 0 ? ` -- ${quoted.join(' ')}` : ''}\`.

${table}

Goal: ≥ 2,100,000 records/s (the 2013 Go prototype after tuning, on a laptop
SSD; 840,000 before). Best here${rows.some((r) => r.otherBuild === true) ? ' (this build)' : ''}: **${best.recordsPerSec.toLocaleString('en')} records/s** (${best.label}) — ${best.recordsPerSec >= 2_100_000 ? 'met' : '**missed**'}.
`;
  await writeSection('original', body, join(options.outDir, 'benchmarks.md'));
}

await main();
