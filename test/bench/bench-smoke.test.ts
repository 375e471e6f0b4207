// Smoke runs of the benchmark scripts (npm run bench, bench:original, bench:memory, bench:rebalance,
// bench:replay): each
// runs for a few seconds on tiny sizes, writing to a copy of docs/benchmarks.md in a temp folder, and must
// produce every row with a nonzero rate and no errors (rebalance: a new node that herds flocks and no lost
// acknowledged write). The numbers themselves are not checked (benchmarks, not tests).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { cells } from '../helpers/markdown-table.js';
import { repoRoot } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

async function runScript(script: string, args: string[]): Promise<string> {
  const child = spawn(process.execPath, [join(repoRoot, 'dist', 'bench', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  assert.equal(code, 0, `${script} failed:\n${output}`);
  return output;
}

/** The body rows of the first table after `heading` in `section` (cells). */
function tableAfter(section: string, heading: string): string[][] {
  const from = section.indexOf(heading);
  assert.ok(from >= 0, `no "${heading}" in:\n${section}`);
  const lines = section.slice(from).split('\n');
  const start = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(cells(lines[i]!));
  return rows;
}

function section(text: string, name: string): string {
  const from = text.indexOf(`<!-- begin ${name} -->`);
  const to = text.indexOf(`<!-- end ${name} -->`);
  assert.ok(from >= 0 && to > from, `no section ${name}`);
  return text.slice(from, to);
}

const number = (cell: string) => Number(cell.replace(/[, ×]|MB/g, ''));

/** A copy of docs/benchmarks.md in a folder of its own, for one script to write to. */
async function outFolder(t: TestContext, name: string): Promise<string> {
  const out = await tempDir(t, `grex-bench-smoke-${name}-`);
  await copyFile(join(repoRoot, 'docs', 'benchmarks.md'), join(out, 'benchmarks.md'));
  return out;
}

test('the benchmark scripts run and report every row with a rate and no errors', async (t) => {
  const before = await readFile(join(repoRoot, 'docs', 'benchmarks.md'), 'utf8');
  const [httpOut, originalOut, memoryOut, rebalanceOut] = await Promise.all(['http', 'original', 'memory', 'rebalance'].map((name) => outFolder(t, name)));
  // All at once: together they take about as long as the HTTP one alone.
  await Promise.all([
    runScript('rebalance.js', ['--quick', '--customers', '100', '--out', rebalanceOut!]),
    runScript('http-bench.js', ['--quick', '--customers', '20', '--duration', '0.3', '--warmup', '0', '--connections', '8', '--paced-rate', '50', '--out', httpOut!]),
    runScript('original-workload.js', ['--quick', '--buckets', '3', '--records', '2000', '--duration', '0.3', '--out', originalOut!]),
    runScript('memory.js', ['--quick', '--buckets', '300', '--first', '100', '--connections', '8', '--settle', '0.2', '--out', memoryOut!]),
    runScript('replay.js', ['--seconds', '1', '--rate', '100', '--customers', '10', '--rounds', '1']).then((output) => {
      // Every acknowledged append was still in the log, and the restart replayed it (seeding adds 10 commits).
      const m = /: (\d+) appends acknowledged; log [\d.]+ MB, (\d+) commits replayed; restart to ready \d+ ms/.exec(output);
      assert.ok(m !== null, `replay.js printed no result:\n${output}`);
      assert.ok(Number(m[1]) > 0 && Number(m[2]) >= Number(m[1]), `replayed ${m[2]} commits for ${m[1]} acknowledged appends`);
    }),
  ]);

  const httpDocs = await readFile(join(httpOut!, 'benchmarks.md'), 'utf8');
  const http = section(httpDocs, 'http');
  for (const heading of ['### Writes', '### Reads']) {
    const rows = tableAfter(http, heading);
    assert.deepEqual(
      rows.map((r) => r[0]),
      ['HTTP ceiling (fastify hello)', 'Cache ceiling (fastify + Map)', 'Redis app (fastify + Redis)', 'Grex, 1 node', 'Grex, 3 nodes, direct', 'Grex, 3 nodes, random node', 'Grex, 1 node, no cache'],
    );
    for (const row of rows) {
      assert.ok(number(row[1]!) > 0, `${heading} ${row[0]}: req/s ${row[1]}`);
      assert.equal(row[4], '0', `${heading} ${row[0]}: errors`);
    }
  }
  // Every Grex row counts the write jobs forwarded; through a random node of three most of them are.
  const forwarded = new Map([...http.matchAll(/(Grex, [^:;|\n]+): ([\d,]+) of ([\d,]+) \(/g)].map((m) => [m[1]!, [number(m[2]!), number(m[3]!)]] as const));
  assert.deepEqual([...forwarded.keys()], ['Grex, 1 node', 'Grex, 3 nodes, direct', 'Grex, 3 nodes, random node', 'Grex, 1 node, no cache']);
  assert.equal(forwarded.get('Grex, 1 node')![0], 0);
  const [randomForwarded, randomRan] = forwarded.get('Grex, 3 nodes, random node')!;
  assert.ok(randomRan > 0 && randomForwarded > 0, `random node: ${randomForwarded} of ${randomRan} forwarded`);
  const paced = tableAfter(http, '### Writes at one even pace');
  assert.equal(paced.length, 7);
  for (const row of paced) {
    assert.ok(number(row[2]!) > 0, `paced ${row[0]}: answered/s ${row[2]}`);
    assert.equal(row[6], '0', `paced ${row[0]}: errors`);
  }
  const targets = tableAfter(http, '### Targets');
  assert.equal(targets.length, 5);
  for (const row of targets) assert.match(row[2]!, /^(met|\*\*missed\*\*)$/, `target ${row[0]} was evaluated`);
  const svg = await readFile(join(httpOut!, 'bench-http.svg'), 'utf8');
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.includes('Grex, 3 nodes, random node') && svg.trimEnd().endsWith('</svg>'));
  // The other sections (failover) are kept as they were.
  assert.equal(section(httpDocs, 'failover'), section(before, 'failover'));

  const original = tableAfter(section(await readFile(join(originalOut!, 'benchmarks.md'), 'utf8'), 'original'), '| encode and store');
  assert.equal(original.length, 2);
  for (const row of original) {
    assert.ok(number(row[2]!) > 0, `original ${row[0]}: records/s ${row[2]}`);
    assert.equal(row[5], '0', `original ${row[0]}: errors`);
  }

  const memory = tableAfter(section(await readFile(join(memoryOut!, 'benchmarks.md'), 'utf8'), 'memory'), '| buckets stored');
  assert.deepEqual(
    memory.map((r) => r[0]),
    ['0 (idle, just started)', '100', '300'],
  );
  for (const row of memory) assert.ok(number(row[1]!) > 0, `memory row ${row.join(' | ')}`);
  for (const row of memory.slice(1)) {
    assert.ok(number(row[2]!) > 0, `memory row ${row.join(' | ')}`);
    assert.equal(row[3], '0');
  }

  const rebalance = section(await readFile(join(rebalanceOut!, 'benchmarks.md'), 'utf8'), 'rebalance');
  const steps = tableAfter(rebalance, '### Join and leave');
  assert.deepEqual(
    steps.map((r) => r[0]),
    ['join', 'leave'],
  );
  for (const row of steps) {
    assert.ok(number(row[2]!) > 0, `${row[0]}: settled after ${row[2]}`);
    assert.ok(number(row[4]!) > 0 && number(row[5]!) > 0, `${row[0]}: copied ${row[4]} MiB in ${row[5]} flocks`);
    assert.ok(number(row[6]!) > 0 && number(row[8]!) > 0, `${row[0]}: MiB/s ${row[6]}, per flock ${row[8]}`);
  }
  assert.match(steps[1]![3]!, /\(exit 0\)$/, 'the leaving node stopped by itself');
  const phases = tableAfter(rebalance, '### Jobs');
  assert.deepEqual(
    phases.map((r) => r[1]),
    ['baseline', 'join', 'after join', 'leave', 'after leave'],
  );
  for (const row of phases.slice(0, 2)) assert.ok(number(row[3]!) > 0 && number(row[6]!) > 0, `jobs ${row[1]}: ${row.join(' | ')}`);
  const [checks] = tableAfter(rebalance, '### Checks');
  assert.ok(number(checks![1]!) > 0, `the new node herds ${checks![1]} flocks`);
  assert.ok(number(checks![2]!) > 0, `acknowledged appends checked: ${checks![2]}`);
  assert.equal(checks![3], '0', 'no acknowledged append was lost');
});
