/**
 * The type test: `tsc --noEmit` over the typed-jobs fixture
 * (test/fixtures/types, positive cases and `@ts-expect-error` negative
 * ones) and over each example in examples/ (each its own program with its
 * own tsconfig.json, as each declares its own GrexJobs). A copy of the fixture without its
 * `@ts-expect-error` directives must fail on exactly those lines, which
 * shows every negative case is an error of its own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { repoRoot } from '../helpers/paths.js';

const TSC = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
const FIXTURE_DIR = join(repoRoot, 'test', 'fixtures', 'types');

function tsc(project: string): { code: number | null; output: string } {
  const run = spawnSync(process.execPath, [TSC, '-p', project, '--pretty', 'false'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  return { code: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('types', () => {
  const examples = readdirSync(join(repoRoot, 'examples'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `examples/${e.name}`);

  test('every example has a tsconfig.json, so it is type-checked here', () => {
    assert.ok(examples.length >= 3);
    assert.deepEqual(examples.filter((dir) => !existsSync(join(repoRoot, dir, 'tsconfig.json'))), []);
  });

  for (const project of ['test/fixtures/types', ...examples]) {
    test(`${project} type-checks`, () => {
      const { code, output } = tsc(project);
      assert.equal(code, 0, output);
    });
  }

  test('every negative case of the fixture is an error on its own line', () => {
    const source = readFileSync(join(FIXTURE_DIR, 'typed-submit.ts'), 'utf8');
    const lines = source.split('\n');
    const expected = lines.flatMap((line, i) => (line.trim().startsWith('// @ts-expect-error') ? [i + 2] : [])); // 1-based line after the directive
    assert.ok(expected.length >= 10, `the fixture has ${expected.length} negative cases`);

    const name = `regressed-${process.pid}`;
    const copy = join(FIXTURE_DIR, `${name}.ts`);
    const project = join(FIXTURE_DIR, `${name}.tsconfig.json`);
    try {
      // Same line numbers: each directive becomes a plain comment.
      writeFileSync(copy, source.replaceAll('// @ts-expect-error', '// (expected error)'));
      writeFileSync(project, JSON.stringify({ extends: './tsconfig.json', include: [], files: [`${name}.ts`] }));
      const { code, output } = tsc(project);
      assert.notEqual(code, 0);
      const errorLines = new Set([...output.matchAll(new RegExp(`${name}\\.ts\\((\\d+),\\d+\\): error`, 'g'))].map((m) => Number(m[1])));
      assert.deepEqual([...errorLines].sort((a, b) => a - b), expected, output);
    } finally {
      rmSync(copy, { force: true });
      rmSync(project, { force: true });
    }
  });
});
