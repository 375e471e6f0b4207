/**
 * The harness's end of the load generator: runs bench/load.ts in a child
 * process of its own (so the load generator never shares an event loop with
 * what it measures), hands it plans and returns what it measured.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** Where requests for which customers go, over how many connections. */
export interface LoadTarget {
  url: string;
  /** Customer keys; or `keyRange`: the keys `<prefix><from>` .. `<prefix><from + count - 1>`. */
  keys: string[];
  keyRange?: { prefix: string; from: number; count: number };
  connections: number;
}

export interface LoadPlan {
  targets: LoadTarget[];
  method: 'GET' | 'POST';
  /** The request path, `{key}` standing for the customer's key. */
  path: string;
  /** POST a record (JSON) as the body. */
  recordBody: boolean;
  /** JSON bodies to send in turn instead of records. */
  bodies?: string[];
  /** Keys in order instead of at random: with `amount`, every key of the range once. */
  sequential?: boolean;
  /** Stop after this many requests (per target) instead of after durationSec. */
  amount?: number;
  durationSec: number;
  /** A run of this length before the measured one, not counted. */
  warmupSec: number;
  /** Requests per second over all targets (split by their connections); unset: as fast as answered. */
  overallRate?: number;
  /** With overallRate: send at an even pace from this process (bench/paced-load.ts), not with autocannon's per-second budget. */
  paced?: boolean;
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

/**
 * The load generator process, started once and reused for every plan (one
 * at a time), so a measurement does not pay for a process start.
 */
export class LoadGenerator {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: AsyncIterator<string>;
  #stderr = '';
  #busy: Promise<unknown> = Promise.resolve();

  constructor() {
    const script = fileURLToPath(new URL('load.js', import.meta.url));
    this.#child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.setEncoding('utf8').on('data', (c: string) => (this.#stderr = (this.#stderr + c).slice(-10_000)));
    this.#lines = createInterface({ input: this.#child.stdout })[Symbol.asyncIterator]();
  }

  run(plan: LoadPlan): Promise<LoadResult> {
    const run = this.#busy.then(() => this.#run(plan));
    this.#busy = run.catch(() => {});
    return run;
  }

  async #run(plan: LoadPlan): Promise<LoadResult> {
    this.#child.stdin.write(`${JSON.stringify(plan)}\n`);
    const limitMs = (plan.amount === undefined ? plan.durationSec + plan.warmupSec + 60 : 24 * 3600) * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`load generator did not answer within ${limitMs} ms`)), limitMs);
    });
    try {
      const next = await Promise.race([this.#lines.next(), timeout]);
      if (next.done === true) throw new Error(`load generator exited:\n${this.#stderr}`);
      const answer = JSON.parse(next.value) as LoadResult | { error: string };
      if ('error' in answer) throw new Error(`load generator failed: ${answer.error}`);
      return answer;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = once(this.#child, 'exit');
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
