// TypeScript jobs are compiled once in the main thread (job-compiler.ts) and loaded as
// JavaScript in the job threads: imports between .ts files written every way TypeScript
// allows, `grex/job` from a folder without Grex, import.meta.url of the source, compile
// errors as load problems, and changed files picked up by a restart.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { startNode } from '../../src/grex-node.js';
import { compileJobs } from '../../src/workers/job-compiler.js';
import { rejection, startTestNode } from '../helpers/nodes.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('TypeScript jobs', () => {
  test('import .ts helpers by .ts, .js and extensionless names, and grex/job, from a folder without Grex', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'lib'));
    await writeFile(join(dir, '_one.ts'), 'export const one: number = 1;');
    await writeFile(join(dir, '_two.ts'), 'import { one } from "./_one.js";\nexport const two = (): number => one + 1;');
    await writeFile(join(dir, 'lib', 'three.ts'), 'import { two } from "../_two";\nexport const three = (): number => two() + 1;');
    await writeFile(join(dir, 'lib', 'index.ts'), 'export { three } from "./three.ts";');
    await writeFile(
      join(dir, 'count.ts'),
      [
        'import { defineJob } from "grex/job";',
        'import { one } from "./_one.ts";',
        'import { two } from "./_two.js";',
        'import { three } from "./lib";',
        'enum Kind { A = 4 }',
        'export default defineJob(async (_ctx, data: { n: number }): Promise<number[]> => [one, two(), three(), Kind.A, data.n]);',
      ].join('\n'),
    );
    const node = await startTestNode(t, { jobs: dir });
    assert.deepEqual((await node.submit('x', 'count', { n: 5 })).result, [1, 2, 3, 4, 5]);
  });

  test('a compiled module keeps the URL of its source (import.meta.url, files next to it)', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'data.json'), '{"answer": 42}');
    await writeFile(
      join(dir, 'where.ts'),
      [
        'import { readFile } from "node:fs/promises";',
        'export default async (): Promise<{ url: string; answer: number }> => ({',
        '  url: import.meta.url,',
        '  answer: (JSON.parse(await readFile(new URL("./data.json", import.meta.url), "utf8")) as { answer: number }).answer,',
        '});',
      ].join('\n'),
    );
    const node = await startTestNode(t, { jobs: dir });
    assert.deepEqual((await node.submit('x', 'where')).result, { url: pathToFileURL(join(dir, 'where.ts')).href, answer: 42 });
  });

  test('helpers imported by two jobs are one module per thread, as for JavaScript jobs', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, '_tally.ts'), 'let n = 0;\nexport const next = (): number => ++n;');
    await writeFile(join(dir, 'a.ts'), 'import { next } from "./_tally.ts";\nexport default async (): Promise<number> => next();');
    await writeFile(join(dir, 'b.ts'), 'import { next } from "./_tally.ts";\nexport default async (): Promise<number> => next();');
    const node = await startTestNode(t, { jobs: dir, workers: 1 });
    assert.equal((await node.submit('x', 'a')).result, 1);
    assert.equal((await node.submit('x', 'b')).result, 2);
  });

  test('a job that does not compile stops the start with its file and line', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'fine.ts'), 'export default async (): Promise<number> => 1;');
    await writeFile(join(dir, 'broken.ts'), 'export default async (): Promise<number> => {\n  return 1 +;\n};');
    const err = await rejection(startNode({ store: 'memory', jobs: dir, http: false, logLevel: 'silent' }));
    assert.equal(err.code, 'GREX_ERR_JOB_LOAD');
    assert.match(err.message, /broken\.ts:2/);
    assert.doesNotMatch(err.message, /fine/);
  });

  test('a job importing a missing helper stops the start', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'lonely.ts'), 'import { x } from "./_gone.ts";\nexport default async (): Promise<number> => x;');
    const err = await rejection(startNode({ store: 'memory', jobs: dir, http: false, logLevel: 'silent' }));
    assert.equal(err.code, 'GREX_ERR_JOB_LOAD');
    assert.match(err.message, /_gone\.ts/);
  });

  test('a changed job or helper is picked up when the node starts again', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, '_word.ts'), 'export const word: string = "old";');
    await writeFile(join(dir, 'say.ts'), 'import { word } from "./_word.ts";\nexport default async (): Promise<string> => word;');
    const first = await startNode({ store: 'memory', jobs: dir, http: false, logLevel: 'silent' });
    try {
      assert.equal((await first.submit('x', 'say')).result, 'old');
    } finally {
      await first.stop();
    }
    await writeFile(join(dir, '_word.ts'), 'export const word: string = "new";');
    const second = await startTestNode(t, { jobs: dir });
    assert.equal((await second.submit('x', 'say')).result, 'new');
  });

  test('compileJobs leaves JavaScript jobs alone and compiles only the TypeScript graph', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, '_h.ts'), 'export const h: number = 1;');
    await writeFile(join(dir, 'j.ts'), 'import { h } from "./_h.ts";\nexport default async (): Promise<number> => h;');
    await writeFile(join(dir, 'plain.js'), 'export default async () => 1;');
    assert.deepEqual(await compileJobs([join(dir, 'plain.js')]), { modules: {}, problems: {} });
    const compiled = await compileJobs([join(dir, 'j.ts'), join(dir, 'plain.js')]);
    assert.deepEqual(Object.keys(compiled.modules).sort(), [pathToFileURL(join(dir, '_h.ts')).href, pathToFileURL(join(dir, 'j.ts')).href]);
    assert.doesNotMatch(compiled.modules[pathToFileURL(join(dir, '_h.ts')).href]!, /: number/);
    assert.deepEqual(compiled.problems, {});
  });
});
