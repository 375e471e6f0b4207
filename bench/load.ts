/**
 * The load generator, a process of its own: reads LoadPlans (a JSON line
 * each) on stdin, drives each with autocannon — one instance per target, all
 * at once — and prints a LoadResult line (JSON) for each on stdout.
 *
 * Each request picks a customer of its target at random and, for writes,
 * the next of a pool of prepared record bodies. Latencies are taken from
 * autocannon's per-response timer (fractional ms) for 2xx answers.
 */
import autocannon, { type AutocannonResult } from 'autocannon';
import { createInterface } from 'node:readline';
import { seededRandom } from '../src/cluster/seeded-random.js';
import type { LoadPlan, LoadResult, LoadTarget } from './run-load.js';
import { pacedLoad } from './paced-load.js';
import { recordBodies } from './workload.js';

const BODIES = recordBodies(4096);

interface Samples {
  latencies: number[];
}

/** The requests of a target, one after the other: a customer each (at random, or in order) and, for writes, the next body. */
function requestSource(plan: LoadPlan, target: LoadTarget, index: number): () => { path: string; body?: string } {
  const rand = seededRandom(1000 + index);
  const bodies = plan.bodies ?? BODIES;
  const range = target.keyRange;
  const keyCount = range?.count ?? target.keys.length;
  const keyAt = range === undefined ? (i: number) => target.keys[i]! : (i: number) => `${range.prefix}${range.from + i}`;
  let next = index * 997;
  let sent = 0;
  return () => {
    const key = keyAt(plan.sequential === true ? sent++ % keyCount : Math.floor(rand() * keyCount));
    const path = plan.path.replace('{key}', encodeURIComponent(key));
    return plan.recordBody ? { path, body: bodies[next++ % bodies.length]! } : { path };
  };
}

function runTarget(plan: LoadPlan, target: LoadTarget, index: number, durationSec: number, rate: number | undefined, samples: Samples | null): Promise<AutocannonResult> {
  const source = requestSource(plan, target, index);
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        connections: target.connections,
        duration: durationSec,
        ...(plan.amount === undefined ? {} : { amount: plan.amount }),
        timeout: plan.timeoutSec ?? 10,
        ...(rate === undefined ? {} : { overallRate: rate }),
        requests: [
          {
            method: plan.method,
            headers: plan.recordBody ? { 'content-type': 'application/json' } : {},
            setupRequest: (request) => {
              const { path, body } = source();
              request.path = path;
              if (body !== undefined) request.body = body;
              return request;
            },
          },
        ],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    if (samples !== null) {
      instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
        if (status >= 200 && status < 300) samples.latencies.push(ms);
      });
    }
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function runAll(plan: LoadPlan, durationSec: number, samples: Samples | null): Promise<AutocannonResult[]> {
  const connections = plan.targets.reduce((n, t) => n + t.connections, 0);
  return Promise.all(
    plan.targets.map((target, i) => {
      const rate = plan.overallRate === undefined ? undefined : Math.max(1, Math.round((plan.overallRate * target.connections) / connections));
      return runTarget(plan, target, i, durationSec, rate, samples);
    }),
  );
}

/** The latency part of a LoadResult, from the 2xx latencies of a run (ms) and its length. */
function latencyStats(latencies: readonly number[], elapsedSec: number): Pick<LoadResult, 'requests' | 'reqPerSec' | 'p50Ms' | 'p99Ms' | 'maxMs'> {
  const sorted = Float64Array.from(latencies).sort();
  const round = (ms: number) => Math.round(ms * 100) / 100;
  return {
    requests: sorted.length,
    reqPerSec: Math.round(sorted.length / elapsedSec),
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.length === 0 ? NaN : sorted[sorted.length - 1]!),
  };
}

/** An even pace instead of autocannon's per-second budget (see paced-load.ts). */
async function measurePaced(plan: LoadPlan, rate: number): Promise<LoadResult> {
  const connections = plan.targets.reduce((n, t) => n + t.connections, 0);
  const run = (durationSec: number) =>
    Promise.all(
      plan.targets.map((target, i) => {
        const source = requestSource(plan, target, i);
        return pacedLoad({
          url: target.url,
          rate: (rate * target.connections) / connections,
          durationSec,
          connections: target.connections,
          timeoutSec: plan.timeoutSec ?? 10,
          next: () => ({ method: plan.method, ...source() }),
        });
      }),
    );
  if (plan.warmupSec > 0) await run(plan.warmupSec);
  const results = await run(plan.durationSec);
  const stats = latencyStats(
    results.flatMap((r) => r.latencies),
    Math.max(...results.map((r) => r.elapsedSec)),
  );
  return {
    ...stats,
    non2xx: results.reduce((n, r) => n + r.non2xx, 0),
    errors: results.reduce((n, r) => n + r.errors, 0),
    timeouts: 0,
    // Latencies here count from each request's release: nothing to correct.
    autocannonP99Ms: Math.ceil(stats.p99Ms),
  };
}

async function measure(plan: LoadPlan): Promise<LoadResult> {
  if (plan.paced === true && plan.overallRate !== undefined) return measurePaced(plan, plan.overallRate);
  if (plan.warmupSec > 0) await runAll(plan, plan.warmupSec, null);
  const samples: Samples = { latencies: [] };
  const startedAt = performance.now();
  const results = await runAll(plan, plan.durationSec, samples);
  return {
    ...latencyStats(samples.latencies, (performance.now() - startedAt) / 1000),
    non2xx: results.reduce((n, r) => n + r.non2xx, 0),
    errors: results.reduce((n, r) => n + r.errors, 0),
    timeouts: results.reduce((n, r) => n + r.timeouts, 0),
    autocannonP99Ms: Math.max(...results.map((r) => r.latency.p99)),
  };
}

// One plan per line in, one result per line out, until stdin ends.
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  try {
    console.log(JSON.stringify(await measure(JSON.parse(line) as LoadPlan)));
  } catch (err) {
    console.log(JSON.stringify({ error: (err as Error).stack ?? String(err) }));
  }
}
