/**
 * The HTTP benchmark: Grex against the systems its users would otherwise
 * pick, side by side in one run, on one workload.
 *
 *   npm run bench [-- --quick | --duration 10 --connections 32 | --help]
 *
 * Every system runs as real processes; the load comes from autocannon in a
 * process of its own (bench/load.ts). Each system is seeded with the same
 * customers' lists, then measured on writes (append one record, keep the
 * newest 200) and on reads (the list's summary), after a warm-up. Results
 * go to docs/benchmarks.md (section "http") and docs/bench-http.svg.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { httpChart } from './chart.js';
import { HTTP_BENCH_USAGE, parseHttpBenchOptions, type HttpBenchOptions } from './http-options.js';
import { checkTargets, forwardedNote, pacedTable, resultTables, targetsTable, type HttpRow } from './http-results.js';
import { loadNote, machine, writeSection } from './report.js';
import { errorCount, LoadGenerator, type LoadResult } from './run-load.js';
import { Scope } from './scope.js';
import { cacheSetup, helloSetup, redisSetup } from './systems/competitors.js';
import { grexClusterSetup, grexNoCacheSetup, grexSingleSetup } from './systems/grex.js';
import type { Deployment, RequestShape, SystemSetup, Variant } from './systems/system.js';
import { customerKeys, KEEP_RECORDS } from './workload.js';

/** Taken before anything starts: how busy the machine was. */
const STARTING_LOAD = loadNote();

export const SETUPS: SystemSetup[] = [helloSetup, cacheSetup, redisSetup, grexSingleSetup, grexClusterSetup, grexNoCacheSetup];

function describe(m: LoadResult): string {
  return `${m.reqPerSec} req/s, p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms, errors ${errorCount(m)}`;
}

async function measure(
  load: LoadGenerator,
  options: HttpBenchOptions,
  variant: Variant,
  shape: RequestShape,
  keys: string[],
  overallRate?: number,
): Promise<LoadResult> {
  return load.run({
    targets: await variant.targets(keys, options.connections),
    ...shape,
    durationSec: options.durationSec,
    warmupSec: options.warmupSec,
    // A rate is kept evenly (paced-load.ts): autocannon's rate limit sends each second's budget at full speed.
    ...(overallRate === undefined ? {} : { overallRate, paced: true }),
  });
}

/** After the writes every list must still hold the newest KEEP_RECORDS records (or all, when seeded with fewer). */
async function checkLists(deployment: Deployment, keys: string[], records: number, label: string): Promise<void> {
  for (const key of keys.slice(0, 5)) {
    const length = await deployment.listLength(key);
    if (length === null) return;
    if (length > KEEP_RECORDS || length < Math.min(records, KEEP_RECORDS)) {
      throw new Error(`${label}: customer ${key} has ${length} records after the run (expected ${Math.min(KEEP_RECORDS, records)}..${KEEP_RECORDS})`);
    }
  }
}

/**
 * Reads every customer once after seeding, so that no measured request pays
 * for a first touch (a cold object cache after the seeding writes).
 */
async function touchAll(variant: Variant, shape: RequestShape, keys: string[]): Promise<void> {
  const work = (await variant.targets(keys, 1)).flatMap((t) => t.keys.map((key) => ({ url: t.url, key })));
  let next = 0;
  const worker = async () => {
    while (next < work.length) {
      const { url, key } = work[next++]!;
      const res = await fetch(`${url}${shape.path.replace('{key}', encodeURIComponent(key))}`, { method: shape.method });
      const text = await res.text();
      if (!res.ok) throw new Error(`${variant.label}: reading ${key} after seeding: ${res.status} ${text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

async function runSetup(load: LoadGenerator, options: HttpBenchOptions, setup: SystemSetup, keys: string[]): Promise<HttpRow[]> {
  const scope = new Scope();
  const rows: HttpRow[] = [];
  try {
    const profile = options.profileDir !== null && setup.id.startsWith('grex-');
    const grexNodeArgs = [...options.grexNodeArgs, ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${join(options.profileDir!, setup.id)}`] : [])];
    const deployment = await setup.start(scope, { grexArgs: options.grexArgs, grexNodeArgs });
    await deployment.seed(keys, options.records);
    await touchAll(deployment.variants[0]!, deployment.read, keys);
    for (const variant of deployment.variants) {
      const before = await deployment.jobTally?.();
      const write = await measure(load, options, variant, deployment.write, keys);
      const after = await deployment.jobTally?.();
      console.log(`${variant.label}, writes: ${describe(write)}`);
      await checkLists(deployment, keys, options.records, variant.label);
      const row: HttpRow = { id: variant.id, label: variant.label, write, read: write };
      if (before !== undefined && after !== undefined) row.forwarded = { ran: after.ran - before.ran, forwarded: after.forwarded - before.forwarded };
      if (variant.halfRate === true) {
        const rate = Math.max(1, Math.round(write.reqPerSec / 2));
        const result = await measure(load, options, variant, deployment.write, keys, rate);
        row.halfRate = { rate, result };
        console.log(`${variant.label}, writes paced at ${rate} req/s: ${describe(result)}`);
      }
      if (options.pacedRate !== null) {
        const result = await measure(load, options, variant, deployment.write, keys, options.pacedRate);
        row.paced = { rate: options.pacedRate, result };
        console.log(`${variant.label}, writes paced at ${options.pacedRate} req/s: ${describe(result)}`);
      }
      row.read = await measure(load, options, variant, deployment.read, keys);
      console.log(`${variant.label}, reads: ${describe(row.read)}`);
      rows.push(row);
    }
  } finally {
    await scope.close();
  }
  return rows;
}

function reportBody(options: HttpBenchOptions, rows: HttpRow[], command: string): string {
  const tables = resultTables(rows);
  const checks = checkTargets(rows);
  const half = rows.find((r) => r.id === 'grex-1')?.halfRate;
  const paced = pacedTable(rows);
  return `## HTTP: Grex and the alternatives

${options.customers.toLocaleString('en')} customers, each one list of ${options.records} records
\`{ description, other, amount, date }\` (about 12 KB in msgpackr). A write
appends one record and keeps the newest ${KEEP_RECORDS}; a read returns the
list's summary (count and total). Every system is seeded with the same lists
(each then read once, so no measurement pays for a first touch) and runs as
its own processes; the load comes from autocannon in a separate
process, ${options.connections} connections, ${options.warmupSec} s warm-up then
${options.durationSec} s measured per system and workload, customers picked at
random. Latencies are autocannon's per-response times (except the paced
run at half rate, below); errors count non-2xx answers and connection
errors (timeouts included).

- **HTTP ceiling**: bare fastify answering a constant.
- **Cache ceiling**: fastify keeping the decoded lists in a Map; no
  persistence, no encoding.
- **Redis app**: stateless fastify + Redis 7 (ioredis): GET the list, decode,
  append, encode the whole list, SET. redis-server with its default
  persistence (RDB snapshots, no AOF: not durable per write).
- **Grex**: \`grex start\` processes with default options (filesystem store,
  fsync \`always\`: a write is answered once it is durable; job threads =
  cores less one, here 1; 256 MiB object cache), jobs \`bench/jobs/append-record.ts\` and
  \`list-summary.ts\`${options.grexArgs.length > 0 ? ', plus \`' + options.grexArgs.join(' ') + '\`' : ''}${options.grexNodeArgs.length > 0 ? ', node run with \`' + options.grexNodeArgs.join(' ') + '\`' : ''}. 3 nodes: \`--replicas 3\` (a write waits for 2 of 3);
  "direct" sends each request to its bucket's active node (asked once per
  bucket with \`GET /route/:bucketKey\`), "random node" to any node, which
  forwards it. "No cache": \`--cache-mb 0\`.

Machine: ${machine()}. ${STARTING_LOAD}. Command: \`${command}\`.

### Writes (append one record, keep ${KEEP_RECORDS})

${tables.write}
${forwardedNote(rows)}
### Reads (list summary)

${tables.read}

### Targets (issue 6; ratios from this run)

${targetsTable(checks)}
${half === undefined ? '' : `\nAt half its maximum write throughput (${half.rate} req/s sent at an even pace over ${options.connections} keep-alive connections by \`bench/paced-load.ts\`, which releases the requests due every millisecond; latencies counted from release), Grex on one node answered writes with p50 ${half.result.p50Ms} ms, p99 ${half.result.p99Ms} ms, max ${half.result.maxMs} ms, ${errorCount(half.result)} errors. (autocannon's own rate limit cannot pace: each connection spends its budget for the second at full speed, then waits for the next second, so its latencies at \"half the rate\" are those of full load.)\n`}
${paced === null ? '' : `\n### Writes at one even pace, every system\n\nEach system's writes at the same rate, sent at an even pace as above (\`--paced-rate\`): latency side by side at a load all of them sustain.\n\n${paced}\n`}
![req/s and p99 per system](bench-http.svg)
`;
}

async function main(): Promise<void> {
  const parsed = parseHttpBenchOptions(process.argv.slice(2));
  if (parsed === 'help') {
    console.log(HTTP_BENCH_USAGE);
    return;
  }
  const options = parsed;
  const unknown = (options.systems ?? []).filter((id) => !SETUPS.some((s) => s.id === id));
  if (unknown.length > 0) throw new Error(`unknown systems ${unknown.join(', ')} (known: ${SETUPS.map((s) => s.id).join(', ')})`);
  const setups = SETUPS.filter((s) => options.systems === null || options.systems.includes(s.id));
  const keys = customerKeys(options.customers);
  const rows: HttpRow[] = [];
  const load = new LoadGenerator();
  try {
    for (const setup of setups) rows.push(...(await runSetup(load, options, setup, keys)));
  } finally {
    await load.close();
  }
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  await mkdir(options.outDir, { recursive: true });
  await writeFile(join(options.outDir, 'bench-http.svg'), httpChart(rows, `Grex HTTP benchmark, ${machine()}`));
  await writeSection('http', reportBody(options, rows, command), join(options.outDir, 'benchmarks.md'));
  for (const check of checkTargets(rows)) console.log(`${check.met === null ? 'not run' : check.met ? 'met    ' : 'MISSED '}  ${check.target}: ${check.measured}`);
}

await main();
