/** Options of `npm run bench` (bench/http-bench.ts). */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { repoRoot } from '../test/helpers/paths.js';

export const HTTP_BENCH_USAGE = `npm run bench -- [options]

  --duration <s>      measured seconds per system and workload (default 10; --quick: 2)
  --warmup <s>        unmeasured seconds before each measurement (default 2; --quick: 0.5)
  --connections <n>   concurrent connections of the load generator (default 32)
  --customers <n>     customers, each one list (default 1000)
  --records <n>       records per seeded list (default 200)
  --systems <ids>     only these, comma-separated: hello,cache,redis,grex-1,grex-3,grex-1-nocache
  --paced-rate <n>    also measure every system's writes at n req/s sent at an even pace (latency side by side)
  --grex-arg <arg>    an extra argument for every grex start (repeatable), e.g. --grex-arg=--workers=1
  --grex-node-arg <a> an extra flag for node itself in every Grex process (repeatable), e.g. --grex-node-arg=--initial-old-space-size=128
  --profile <dir>     run the Grex processes with node --cpu-prof, profiles into <dir>/<system>
  --out <dir>         where benchmarks.md and bench-http.svg are written (default docs/)
  --quick             a smoke run: short durations`;

export interface HttpBenchOptions {
  durationSec: number;
  warmupSec: number;
  connections: number;
  customers: number;
  records: number;
  systems: string[] | null;
  grexArgs: string[];
  /** Flags for node itself in every Grex process. */
  grexNodeArgs: string[];
  /** Also measure writes of every system at this rate, evenly paced (bench/paced-load.ts). */
  pacedRate: number | null;
  profileDir: string | null;
  outDir: string;
  quick: boolean;
}

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got ${JSON.stringify(text)})`);
  return n;
}

export function parseHttpBenchOptions(argv: string[]): HttpBenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      customers: { type: 'string' },
      records: { type: 'string' },
      systems: { type: 'string' },
      'grex-arg': { type: 'string', multiple: true },
      'grex-node-arg': { type: 'string', multiple: true },
      'paced-rate': { type: 'string' },
      profile: { type: 'string' },
      out: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  return {
    durationSec: positive('duration', values.duration, quick ? 2 : 10),
    warmupSec: values.warmup === '0' ? 0 : positive('warmup', values.warmup, quick ? 0.5 : 2),
    connections: Math.round(positive('connections', values.connections, 32)),
    customers: Math.round(positive('customers', values.customers, 1000)),
    records: Math.round(positive('records', values.records, 200)),
    systems: values.systems === undefined ? null : values.systems.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    grexArgs: values['grex-arg'] ?? [],
    grexNodeArgs: values['grex-node-arg'] ?? [],
    pacedRate: values['paced-rate'] === undefined ? null : Math.round(positive('paced-rate', values['paced-rate'], 1)),
    profileDir: values.profile ?? null,
    outDir: values.out ?? join(repoRoot, 'docs'),
    quick,
  };
}
