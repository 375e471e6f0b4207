/**
 * The harness's end of the load generator: runs bench/load.ts in a child
 * process of its own (so the load generator never shares an event loop with
 * what it measures) and returns what it measured.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** Where requests for which customers go, over how many connections. */
export interface LoadTarget {
  url: string;
  keys: string[];
  connections: number;
}

export interface LoadPlan {
  targets: LoadTarget[];
  method: 'GET' | 'POST';
  /** The request path, `{key}` standing for the customer's key. */
  path: string;
  /** POST a record (JSON) as the body. */
  recordBody: boolean;
  durationSec: number;
  /** A run of this length before the measured one, not counted. */
  warmupSec: number;
  /** Requests per second over all targets (split by their connections); unset: as fast as answered. */
  overallRate?: number;
  timeoutSec?: number;
}

export interface LoadResult {
  /** 2xx answers, and per second of the measured run. */
  requests: number;
  reqPerSec: number;
  /** Latencies of 2xx answers (ms, from autocannon's per-response timer, not rounded). */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  /** Connection errors, timeouts included (autocannon's `errors`). */
  errors: number;
  timeouts: number;
  /** autocannon's own p99 (whole ms; corrected for coordinated omission when rate-limited). */
  autocannonP99Ms: number;
}

export function errorCount(result: LoadResult): number {
  return result.non2xx + result.errors;
}

export async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const script = fileURLToPath(new URL('load.js', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdin.end(JSON.stringify(plan));
  const limitMs = (plan.durationSec + plan.warmupSec + 60) * 1000;
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  const last = stdout.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !last.startsWith('{')) throw new Error(`load generator failed (exit ${code}):\n${stderr}${stdout}`);
  return JSON.parse(last) as LoadResult;
}
