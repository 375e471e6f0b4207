/**
 * Memory does not grow with the data on disk: one node with a 64 MiB object
 * cache is filled with many buckets of one ~4 KiB item each, and its RSS
 * (the node process, worker threads included) is sampled as it goes.
 *
 *   npm run bench:memory [-- --buckets 1000000 --first 10000 --connections 32 | --quick]
 *                        [--heap-growth 20|default] [--grex-arg=--workers=1 ...] [--node-arg=--max-semi-space-size=2 ...]
 *
 * The buckets are stored by the job bench/jobs/store-blob.ts over HTTP
 * (autocannon in its own process, each bucket once). RSS is read from
 * /proc/<pid>/status (VmRSS; VmHWM for the peak) every 250 ms, and at each
 * checkpoint (first, 10× first, ..., buckets) after 3 s idle (--settle). Targets: RSS ≤
 * 150 MB throughout, and RSS at the last checkpoint within 10% of RSS at the
 * first. Checks free disk space and inodes before it starts.
 *
 * The node runs with `--heap-growth-percent 20` (--heap-growth; `default`
 * leaves V8's own factor): the setting for a node that must stay small, see
 * docs/configuration.md.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { repoRoot } from '../test/helpers/paths.js';
import { loadNote, machine, writeSection } from './report.js';
import { errorCount, LoadGenerator } from './run-load.js';
import { Scope } from './scope.js';
import { BENCH_JOBS } from './systems/grex.js';
import { startNodeProcess } from '../test/helpers/processes.js';

/** Taken before anything starts: how busy the machine was. */
const STARTING_LOAD = loadNote();

const MB = 1e6;
const RSS_LIMIT_MB = 150;
/** Disk per bucket: its folder and item file (a 4 KiB block each), log space, slack. */
const DISK_PER_BUCKET = 12 * 1024;

interface Options {
  buckets: number;
  first: number;
  connections: number;
  cacheMb: number;
  settleSec: number;
  grexArgs: string[];
  nodeArgs: string[];
  outDir: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      buckets: { type: 'string' },
      first: { type: 'string' },
      connections: { type: 'string' },
      'cache-mb': { type: 'string' },
      settle: { type: 'string' },
      'grex-arg': { type: 'string', multiple: true },
      'node-arg': { type: 'string', multiple: true },
      'heap-growth': { type: 'string', default: '20' },
      out: { type: 'string' },
      quick: { type: 'boolean', default: false },
    },
  });
  const int = (name: string, text: string | undefined, fallback: number) => {
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const buckets = int('buckets', values.buckets, values.quick ? 2_000 : 1_000_000);
  const heapGrowth = values['heap-growth'] === 'default' ? [] : [`--heap-growth-percent=${int('heap-growth', values['heap-growth'], 20)}`];
  return {
    buckets,
    first: Math.min(buckets, int('first', values.first, values.quick ? 200 : 10_000)),
    connections: int('connections', values.connections, 32),
    cacheMb: int('cache-mb', values['cache-mb'], 64),
    settleSec: values.settle === undefined ? (values.quick ? 0.5 : 3) : Number(values.settle),
    grexArgs: [...heapGrowth, ...(values['grex-arg'] ?? [])],
    nodeArgs: values['node-arg'] ?? [],
    outDir: values.out ?? join(repoRoot, 'docs'),
  };
}

async function memoryOf(pid: number): Promise<{ rssMb: number; peakMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: (kb('VmRSS') * 1024) / MB, peakMb: (kb('VmHWM') * 1024) / MB };
}

/**
 * Removes the data folder. Not fs.rm: its recursive removal of a million
 * folders took minutes and 2.4 GB of memory here; rm -rf takes neither.
 */
async function removeTree(dir: string): Promise<void> {
  const child = spawn('rm', ['-rf', dir], { stdio: 'ignore' });
  await once(child, 'exit');
}

/** 1, 10, 100... × first, then buckets. */
function checkpoints(first: number, buckets: number): number[] {
  const points: number[] = [];
  for (let n = first; n < buckets; n *= 10) points.push(n);
  points.push(buckets);
  return points;
}

interface Sample {
  buckets: number;
  rssMb: number;
  loadReqPerSec: number;
  errors: number;
}

/** The section of docs/benchmarks.md; written after every checkpoint, so a long run that is stopped still reports. */
function reportBody(options: Options, idleMb: number, samples: Sample[], peak: number, done: boolean): string {
  const firstRss = samples[0]!.rssMb;
  const lastRss = samples.at(-1)!.rssMb;
  const growth = (lastRss - firstRss) / firstRss;
  const mark = (met: boolean) => (met ? 'met' : '**missed**');
  return `## Memory

One node (\`${startCommand(options)}\`, fsync \`always\`${options.grexArgs.some((a) => a.startsWith('--workers')) ? '' : ', default workers'}) filled with ${options.buckets.toLocaleString('en')} buckets of one ~4 KiB item each, stored by
the job \`bench/jobs/store-blob.ts\` over HTTP (autocannon, ${options.connections}
connections, each bucket once). RSS of the node process (worker threads
included) from /proc/<pid>/status, at each checkpoint after ${options.settleSec} s idle; the
peak is the kernel's high-water mark (VmHWM).${done ? '' : `\n\n**Run not finished**: stopped after ${lastRssBuckets(samples)} buckets.`}

Machine: ${machine()}. ${STARTING_LOAD}. Command: \`npm run bench:memory${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`.

| buckets stored | RSS (MB) | load rate (buckets/s) | errors |
|---:|---:|---:|---:|
| 0 (idle, just started) | ${idleMb.toFixed(1)} | – | – |
${samples.map((s) => `| ${s.buckets.toLocaleString('en')} | ${s.rssMb.toFixed(1)} | ${s.loadReqPerSec} | ${s.errors} |`).join('\n')}

| target | measured | |
|---|---|---|
| RSS ≤ ${RSS_LIMIT_MB} MB throughout | peak ${peak.toFixed(1)} MB | ${mark(peak <= RSS_LIMIT_MB)} |
| RSS at ${options.buckets.toLocaleString('en')} buckets within 10% of RSS at ${samples[0]!.buckets.toLocaleString('en')} | ${samples.length < 2 ? 'not run' : `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}% at ${lastRssBuckets(samples)}`} | ${samples.length < 2 ? 'not run' : mark(Math.abs(growth) <= 0.1)} |
`;
}

function startCommand(options: Options): string {
  const node = options.nodeArgs.length > 0 ? `node ${options.nodeArgs.join(' ')} ` : '';
  return `${node}grex start --cache-mb ${options.cacheMb}${options.grexArgs.map((a) => ` ${a}`).join('')}`;
}

const lastRssBuckets = (samples: Sample[]) => samples.at(-1)!.buckets.toLocaleString('en');

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const fs = await statfs(tmpdir());
  const freeBytes = fs.bavail * fs.bsize;
  const needBytes = options.buckets * DISK_PER_BUCKET + 1e9;
  if (freeBytes < needBytes || fs.ffree < options.buckets * 2.2) {
    throw new Error(
      `${tmpdir()} has ${(freeBytes / 1e9).toFixed(1)} GB and ${fs.ffree} inodes free; ${options.buckets} buckets need about ${(needBytes / 1e9).toFixed(1)} GB and ${Math.ceil(options.buckets * 2.2)} inodes`,
    );
  }
  const scope = new Scope();
  const load = new LoadGenerator();
  scope.after(() => load.close());
  const samples: Sample[] = [];
  let maxSampledMb = 0;
  let idleMb = NaN;
  let peakMb = 0;
  try {
    const data = await mkdtemp(join(tmpdir(), 'grex-bench-memory-'));
    scope.after(() => removeTree(data));
    const node = await startNodeProcess(scope, ['--http', '127.0.0.1:0', '--data', data, '--jobs', BENCH_JOBS, '--cache-mb', String(options.cacheMb), ...options.grexArgs], { nodeArgs: options.nodeArgs });
    const pid = node.child.pid!;
    // A node that dies mid-run is a finding: show why, not only the sampler's missing /proc entry.
    let finished = false;
    node.child.once('exit', (code, signal) => {
      if (!finished) console.error(`the node exited (${signal ?? code}) during the run; its last output:\n${node.output().slice(-4000)}`);
    });
    scope.after(() => void (finished = true));
    idleMb = (await memoryOf(pid)).rssMb;
    console.log(`idle node: ${idleMb.toFixed(1)} MB RSS`);
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const now = await memoryOf(pid).catch(() => null);
        if (now === null) return; // the node is gone: its exit is reported above
        maxSampledMb = Math.max(maxSampledMb, now.rssMb);
        await sleep(250);
      }
    })();
    const texts = Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `${i}`.repeat(4000) + Math.random().toString(36) }));
    let loaded = 0;
    for (const point of checkpoints(options.first, options.buckets)) {
      const count = point - loaded;
      const result = await load.run({
        targets: [{ url: node.url, keys: [], keyRange: { prefix: 'm', from: loaded, count }, connections: options.connections }],
        method: 'POST',
        path: '/buckets/{key}/jobs/store-blob',
        recordBody: true,
        bodies: texts,
        sequential: true,
        amount: count,
        durationSec: 3600,
        warmupSec: 0,
        timeoutSec: 30,
      });
      loaded = point;
      await sleep(options.settleSec * 1000);
      const now = await memoryOf(pid);
      peakMb = now.peakMb;
      samples.push({ buckets: point, rssMb: now.rssMb, loadReqPerSec: result.reqPerSec, errors: errorCount(result) });
      console.log(`${point} buckets: ${now.rssMb.toFixed(1)} MB RSS (peak so far ${now.peakMb.toFixed(1)} MB), loaded at ${result.reqPerSec} buckets/s, ${errorCount(result)} errors`);
      const done = point === options.buckets;
      await writeSection('memory', reportBody(options, idleMb, samples, Math.max(peakMb, maxSampledMb), done), join(options.outDir, 'benchmarks.md'));
    }
    sampling = false;
    await sampler;
  } finally {
    await scope.close();
  }
}

await main();
