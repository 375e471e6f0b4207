/**
 * The steady job load of the rebalance benchmark, run in a worker thread (so
 * its timers never share an event loop with the harness polling the nodes).
 *
 * `clients` closed-loop clients, together at `rate` requests per second: each
 * sends one append-record job to a random seeded customer through a random
 * node of `urls`, waits for the answer, then for its next slot (a client that
 * falls behind starts its schedule again from now instead of bursting).
 * Each answer's latency (from send) goes into the histogram of the phase the
 * request was sent in (perf_hooks' HDR-style histogram, microseconds); every
 * acknowledged record is remembered so the harness can check that none is
 * lost. Messages in: { phase }, { urls }, { stop: true }. Out, on stop: LoadReport.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';

export interface LoadOptions {
  urls: string[];
  customers: number;
  rate: number;
  clients: number;
  timeoutMs: number;
}

export interface PhaseReport {
  phase: string;
  /** Answers (acknowledged or not) to requests sent in the phase. */
  requests: number;
  acknowledged: number;
  /** Error codes (GREX_ERR_*, or NETWORK / TIMEOUT) and how often. */
  errors: Record<string, number>;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface LoadReport {
  phases: PhaseReport[];
  /** The first error message seen per code (for the console, to tell causes apart). */
  samples: Record<string, string>;
  /** [customer, description] of every acknowledged append. */
  acked: [string, string][];
}

interface PhaseState {
  histogram: RecordableHistogram;
  requests: number;
  acknowledged: number;
  errors: Map<string, number>;
  startedAt: number;
  endedAt: number;
}

export const customerKey = (i: number): string => `c${i + 1}`;

/** Runs the load until told to stop; resolves with what it measured. */
export async function runLoad(options: LoadOptions, port: NonNullable<typeof parentPort>): Promise<LoadReport> {
  const phases = new Map<string, PhaseState>();
  let current = 'warmup';
  let urls = options.urls;
  let running = true;
  const phaseState = (name: string): PhaseState => {
    let state = phases.get(name);
    if (state === undefined) {
      state = { histogram: createHistogram(), requests: 0, acknowledged: 0, errors: new Map(), startedAt: Date.now(), endedAt: 0 };
      phases.set(name, state);
    }
    return state;
  };
  phaseState(current);
  port.on('message', (message: { phase?: string; urls?: string[]; stop?: boolean }) => {
    if (message.phase !== undefined) {
      phaseState(current).endedAt = Date.now();
      current = message.phase;
      phaseState(current);
    }
    if (message.urls !== undefined) urls = message.urls;
    if (message.stop === true) running = false;
  });

  const acked: [string, string][] = [];
  const samples: Record<string, string> = {};
  let sequence = 0;
  const intervalMs = (1000 * options.clients) / options.rate;
  const client = async (index: number) => {
    // Spread the clients' first slots over one interval.
    let next = performance.now() + (intervalMs * index) / options.clients;
    while (running) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -intervalMs) next = performance.now();
      next += intervalMs;
      if (!running) break;
      const state = phaseState(current);
      const customer = customerKey(Math.floor(Math.random() * options.customers));
      const description = `rebalance ${++sequence}`;
      const body = JSON.stringify({ description, other: `load-${index}`, amount: 1, date: new Date().toISOString() });
      const url = urls[Math.floor(Math.random() * urls.length)]!;
      const sentAt = performance.now();
      let code: string | null;
      try {
        const res = await fetch(`${url}/buckets/${customer}/jobs/append-record`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        const answer = (await res.json()) as { result?: unknown; error?: { code?: string; message?: string } };
        code = res.ok && answer.result !== undefined ? null : (answer.error?.code ?? `HTTP ${res.status}`);
        if (code !== null) samples[code] ??= `${url}: ${answer.error?.message ?? JSON.stringify(answer).slice(0, 300)}`;
      } catch (err) {
        code = (err as Error).name === 'TimeoutError' ? 'TIMEOUT' : 'NETWORK';
      }
      const ms = performance.now() - sentAt;
      state.requests++;
      state.histogram.record(Math.max(1, Math.round(ms * 1000)));
      if (code === null) {
        state.acknowledged++;
        acked.push([customer, description]);
      } else {
        state.errors.set(code, (state.errors.get(code) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, i) => client(i)));
  phaseState(current).endedAt = Date.now();
  const report: PhaseReport[] = [...phases].map(([phase, s]) => ({
    phase,
    requests: s.requests,
    acknowledged: s.acknowledged,
    errors: Object.fromEntries(s.errors),
    seconds: (s.endedAt - s.startedAt) / 1000,
    p50Ms: s.requests === 0 ? NaN : s.histogram.percentile(50) / 1000,
    p99Ms: s.requests === 0 ? NaN : s.histogram.percentile(99) / 1000,
    maxMs: s.requests === 0 ? NaN : s.histogram.max / 1000,
  }));
  return { phases: report, samples, acked };
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object') {
  const port = parentPort;
  void runLoad(workerData as LoadOptions, port).then((report) => port.postMessage(report));
}
