/**
 * docs/benchmarks.md is shared by the benchmark scripts: each writes its own
 * section between markers, leaving the others as they are.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../test/helpers/paths.js';

export const BENCHMARKS_FILE = join(repoRoot, 'docs', 'benchmarks.md');

const HEADER = `# Benchmarks

Numbers produced by the scripts in \`bench/\`; rerun them to check. This
machine is shared and noisy: compare rows of one run with each other, not
with numbers from another day. Each section says how to rerun it.
`;

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
}

/** The machine's load when a benchmark starts: on a shared machine, what its numbers are worth. */
export function loadNote(): string {
  const [one, five] = loadavg();
  return `Load average when it started: ${one!.toFixed(1)} (1 min), ${five!.toFixed(1)} (5 min) on ${cpus().length} cores`;
}

/** Replaces (or appends) the section named `name` of docs/benchmarks.md (or of `file`). */
export async function writeSection(name: string, body: string, file = BENCHMARKS_FILE): Promise<void> {
  const begin = `<!-- begin ${name} -->`;
  const end = `<!-- end ${name} -->`;
  let text = await readFile(file, 'utf8').catch(() => HEADER);
  const section = `${begin}\n${body.trim()}\n${end}`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  text = from >= 0 && to > from ? text.slice(0, from) + section + text.slice(to + end.length) : `${text.trimEnd()}\n\n${section}\n`;
  await writeFile(file, text);
}
