/**
 * Rows of the HTTP benchmark, the targets checked against them, and
 * the markdown that docs/benchmarks.md shows. Pure: numbers in, text out.
 */
import { errorCount, type LoadResult } from './run-load.js';
import type { JobTally } from './systems/system.js';

export interface HttpRow {
  id: string;
  label: string;
  write: LoadResult;
  read: LoadResult;
  /** p99 of writes at half the maximum write throughput (only rows that ask for it). */
  halfRate?: { rate: number; result: LoadResult };
  /** Writes at one rate for every system, evenly paced (`--paced-rate`). */
  paced?: { rate: number; result: LoadResult };
  /** Grex rows: jobs its nodes ran during the write run (warm-up included), and how many a node forwarded. */
  forwarded?: JobTally;
}

export interface TargetCheck {
  target: string;
  measured: string;
  /** null: a row it needs was not run. */
  met: boolean | null;
}

const byId = (rows: HttpRow[], id: string) => rows.find((r) => r.id === id);

function ratio(rows: HttpRow[], id: string, baseId: string): number | undefined {
  const row = byId(rows, id);
  const base = byId(rows, baseId);
  if (row === undefined || base === undefined || base.write.reqPerSec === 0) return undefined;
  return row.write.reqPerSec / base.write.reqPerSec;
}

function ratioTarget(rows: HttpRow[], target: string, id: string, baseId: string, min: number): TargetCheck {
  const r = ratio(rows, id, baseId);
  return r === undefined ? { target, measured: 'not run', met: null } : { target, measured: `${r.toFixed(2)}×`, met: r >= min };
}

/** The targets of issue 6, all on the write workload (ratios from the same run). */
export function checkTargets(rows: HttpRow[]): TargetCheck[] {
  const half = byId(rows, 'grex-1')?.halfRate;
  return [
    ratioTarget(rows, 'Grex 1 node (durable) ≥ 5× the Redis app', 'grex-1', 'redis', 5),
    ratioTarget(rows, 'Grex 1 node (durable) ≥ 0.5× the cache ceiling', 'grex-1', 'cache', 0.5),
    ratioTarget(rows, 'Grex 3 nodes, direct ≥ 2.5× the Redis app', 'grex-3-direct', 'redis', 2.5),
    ratioTarget(rows, 'Grex 3 nodes, random node (forwarding) ≥ 0.6× direct', 'grex-3-forward', 'grex-3-direct', 0.6),
    half === undefined
      ? { target: 'Grex 1 node: p99 at half its maximum throughput ≤ 5 ms', measured: 'not run', met: null }
      : {
          target: 'Grex 1 node: p99 at half its maximum throughput ≤ 5 ms',
          measured: `${half.result.p99Ms.toFixed(1)} ms at ${half.rate} req/s`,
          met: half.result.p99Ms <= 5 && errorCount(half.result) === 0,
        },
  ];
}

const fmtRate = (n: number) => String(Math.round(n));
const fmtMs = (n: number) => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : '–');
const fmtRatio = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : n >= 10 ? `${n.toFixed(0)}×` : `${n.toFixed(2)}×`);

function table(rows: HttpRow[], kind: 'write' | 'read'): string {
  const redis = byId(rows, 'redis')?.[kind].reqPerSec;
  const cache = byId(rows, 'cache')?.[kind].reqPerSec;
  const lines = ['| system | req/s | p50 (ms) | p99 (ms) | errors | vs Redis app | vs cache ceiling |', '|---|---:|---:|---:|---:|---:|---:|'];
  for (const row of rows) {
    const m = row[kind];
    lines.push(
      `| ${row.label} | ${fmtRate(m.reqPerSec)} | ${fmtMs(m.p50Ms)} | ${fmtMs(m.p99Ms)} | ${errorCount(m)} | ${fmtRatio(redis ? m.reqPerSec / redis : undefined)} | ${fmtRatio(cache ? m.reqPerSec / cache : undefined)} |`,
    );
  }
  return lines.join('\n');
}

export function targetsTable(checks: TargetCheck[]): string {
  const mark = (met: boolean | null) => (met === null ? 'not run' : met ? 'met' : '**missed**');
  return ['| target | measured | |', '|---|---|---|', ...checks.map((c) => `| ${c.target} | ${c.measured} | ${mark(c.met)} |`)].join('\n');
}

export function resultTables(rows: HttpRow[]): { write: string; read: string } {
  return { write: table(rows, 'write'), read: table(rows, 'read') };
}

/** Write latencies of every system at the same paced rate (rows measured with `--paced-rate`). */
export function pacedTable(rows: HttpRow[]): string | null {
  const paced = rows.filter((r) => r.paced !== undefined);
  if (paced.length === 0) return null;
  const lines = ['| system | rate (req/s) | answered/s | p50 (ms) | p99 (ms) | max (ms) | errors |', '|---|---:|---:|---:|---:|---:|---:|'];
  for (const row of paced) {
    const { rate, result } = row.paced!;
    lines.push(`| ${row.label} | ${rate} | ${fmtRate(result.reqPerSec)} | ${fmtMs(result.p50Ms)} | ${fmtMs(result.p99Ms)} | ${fmtMs(result.maxMs)} | ${errorCount(result)} |`);
  }
  return lines.join('\n');
}

/**
 * How many of each Grex row's write jobs were forwarded from one node to
 * another: shows that "direct" went straight to the active nodes (a flock
 * that moved during the run makes some of it forwarded) and how much of the
 * random-node row paid for a hop. Empty when no row has the count.
 */
export function forwardedNote(rows: HttpRow[]): string {
  const counted = rows.filter((r) => r.forwarded !== undefined);
  if (counted.length === 0) return '';
  const parts = counted.map((r) => {
    const { ran, forwarded } = r.forwarded!;
    const share = ran === 0 ? '–' : `${((100 * forwarded) / ran).toFixed(1)}%`;
    return `${r.label}: ${forwarded.toLocaleString('en')} of ${ran.toLocaleString('en')} (${share})`;
  });
  return `\nWrite jobs forwarded by one node to the bucket's active node during each Grex run, warm-up included (\`grex_forwards_total\` against \`grex_jobs_total\` of every node): ${parts.join('; ')}.\n`;
}
