/**
 * Where a profiled process spent its time: the top functions by self time
 * in `.cpuprofile` files (from `node --cpu-prof`, e.g. `npm run bench --
 * --profile <dir>`), each file (thread) on its own.
 *
 *   node dist/bench/profile-summary.js <dir or file>... [--top 25]
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m !== null) return m[1]!;
  if (url.startsWith('node:')) return url;
  const src = /\/(src|bench|jobs|dist)\/(.*)$/.exec(url);
  return src === null ? url : `${src[1]}/${src[2]}`;
}

/** Self time per function (µs), from the samples and their time deltas. */
export function selfTimes(profile: Profile): { name: string; micros: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)!;
    const frame = node.callFrame;
    const name = `${frame.functionName || '(anonymous)'} ${frame.url === '' ? '' : `${where(frame.url)}:${frame.lineNumber + 1}`}`.trim();
    totals.set(name, (totals.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return [...totals].map(([name, micros]) => ({ name, micros })).sort((a, b) => b.micros - a.micros);
}

async function files(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const path of paths) {
    if ((await stat(path)).isDirectory()) out.push(...(await readdir(path)).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(path, f)));
    else out.push(path);
  }
  return out.sort();
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
for (const file of await files(positionals)) {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const times = selfTimes(profile);
  const total = times.reduce((n, t) => n + t.micros, 0);
  const idle = times.find((t) => t.name.startsWith('(idle)'))?.micros ?? 0;
  console.log(`\n${basename(file)}: ${(total / 1e6).toFixed(1)} s sampled, ${((100 * (total - idle)) / total).toFixed(0)}% busy`);
  for (const t of times.slice(0, Number(values.top))) {
    console.log(`${((100 * t.micros) / total).toFixed(1).padStart(6)}%  ${(t.micros / 1000).toFixed(0).padStart(7)} ms  ${t.name}`);
  }
}
