/**
 * The published package: `npm pack` of this repository (already built by
 * `npm test`) holds the library, its type declarations and the CLI, and no
 * tests, benchmarks or scripts; installed into an empty project it works —
 * a job written there runs on a node started with the package's `grex`
 * bin, `grex submit` and the library (`grex`, `grex/client`) submit to it,
 * the declarations type-check an app through `exports`, and paths outside
 * `exports` stay closed.
 *
 * The install must need no network: it runs with --offline against the
 * npm cache that `npm ci` filled. That cache holds the lockfile's tarballs
 * but not the full registry metadata a fresh `npm install` asks for, so the
 * project gets a lockfile with this repository's locked dependencies (as an
 * app's own lockfile would pin them), and npm only has to add the tarball.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { postJob } from '../helpers/http.js';
import { repoRoot } from '../helpers/paths.js';
import { startNodeProcess, type NodeProcess } from '../helpers/processes.js';
import { suiteContext } from '../helpers/suite.js';
import { tempDir } from '../helpers/temp-dir.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function run(command: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GREX_')));
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

function ok(result: Run, what: string): Run {
  assert.equal(result.code, 0, `${what} failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

interface LockEntry {
  dev?: boolean;
  [field: string]: unknown;
}

/** A lockfile for an app that depends on Grex: the packages this repository locks for production. */
async function appLockfile(): Promise<string> {
  const lock = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const packages: Record<string, LockEntry> = { '': { name: 'grex-app' } };
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && entry.dev !== true) packages[path] = entry;
  return JSON.stringify({ name: 'grex-app', lockfileVersion: 3, requires: true, packages }, null, 2);
}

const JOB = `import { defineJob } from 'grex/job';

export default defineJob(async (ctx, data: { name: string }) => {
  const greeted = ((await ctx.get<number>('greeted')) ?? 0) + 1;
  ctx.put('greeted', greeted);
  return { greeting: \`hello \${data.name}\`, greeted };
});
`;

const LIBRARY_SCRIPT = `import { startNode, defineJob } from 'grex';
import { GrexClient } from 'grex/client';

const [url] = process.argv.slice(2);
// A client of the node the bin started.
const overHttp = await new GrexClient(url).submit('bob', 'greet', { name: 'Bob' });
// A node of this process's own, without a listener.
const node = await startNode({ store: 'memory', http: false, jobs: './jobs', workers: 1, logLevel: 'silent' });
const inProcess = await node.submit('carol', 'greet', { name: 'Carol' });
await node.stop();
let closed = 'open';
try {
  await import('grex/dist/src/keys.js');
} catch (err) {
  closed = err.code;
}
console.log(JSON.stringify({ overHttp, inProcess: inProcess.result, defineJob: typeof defineJob, closed }));
`;

const TYPED_APP = `import { startNode, type GrexNode } from 'grex';
import { GrexClient } from 'grex/client';
import type greet from './jobs/greet.ts';

declare module 'grex' {
  interface GrexJobs {
    greet: typeof greet;
  }
}

export async function main(node: GrexNode, client: GrexClient): Promise<string> {
  const { result } = await node.submit('alice', 'greet', { name: 'Alice' });
  const overHttp = await client.submit('alice', 'greet', { name: 'Alice' });
  // @ts-expect-error greet takes { name: string }
  await node.submit('alice', 'greet', { name: 1 });
  // @ts-expect-error greeted is a number
  overHttp.result.greeted.toUpperCase();
  return result.greeting + String(overHttp.result.greeted) + String(typeof startNode);
}
`;

describe('npm pack, installed into an empty project', () => {
  const t = suiteContext();
  let work = '';
  let tarball = '';
  let app = '';
  let node: NodeProcess;

  test('the tarball holds the library, its declarations and the CLI, and no tests, benchmarks or scripts', async () => {
    work = await tempDir(t, 'grex-pack-');
    // dist is built by `npm test`; --ignore-scripts keeps prepack from rebuilding it under running tests.
    const packed = ok(await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], repoRoot), 'npm pack');
    const [info] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
    tarball = join(work, info.filename);
    const files = info.files.map((f) => f.path);
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      exports: Record<string, string | { types: string; import: string }>;
    };
    const shipped = new Set(files.map((f) => `./${f}`));
    for (const target of Object.values(pkg.bin)) assert.ok(shipped.has(target.startsWith('./') ? target : `./${target}`), `bin ${target} is packed`);
    for (const [entry, target] of Object.entries(pkg.exports)) {
      const targets = typeof target === 'string' ? [target] : [target.types, target.import];
      for (const path of targets) assert.ok(shipped.has(path), `exports["${entry}"] -> ${path} is packed`);
    }
    for (const declaration of ['dist/src/index.d.ts', 'dist/src/client/index.d.ts', 'dist/src/job.d.ts']) assert.ok(files.includes(declaration), declaration);
    const unwanted = files.filter((f) => /^(test|bench|scripts|examples|src)\//.test(f) || /^dist\/(test|bench|scripts)\//.test(f) || /\.test\./.test(f));
    assert.deepEqual(unwanted, []);
  });

  test('npm install --offline of the tarball into an empty project', async () => {
    app = join(work, 'app');
    await mkdir(join(app, 'jobs'), { recursive: true });
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'grex-app', private: true, type: 'module' }));
    await writeFile(join(app, 'package-lock.json'), await appLockfile());
    ok(await run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], app), 'npm install');
    const installed = JSON.parse(await readFile(join(app, 'node_modules', 'grex', 'package.json'), 'utf8')) as { name: string };
    assert.equal(installed.name, 'grex');
  });

  test("a job written in the project runs on a node started with the package's grex bin, and grex submit reaches it", async () => {
    await writeFile(join(app, 'jobs', 'greet.ts'), JOB);
    const bin = join(app, 'node_modules', '.bin', 'grex');
    node = await startNodeProcess(t, ['--http', '127.0.0.1:0', '--data', './data', '--jobs', './jobs', '--workers', '1'], { cwd: app, command: bin });
    const answer = await postJob(node.url, 'alice', 'greet', { name: 'Alice' });
    assert.deepEqual(answer.body, { result: { greeting: 'hello Alice', greeted: 1 }, activeNode: node.url });

    const submitted = ok(await run(bin, ['submit', 'alice', 'greet', '{"name":"Alice"}', '--url', node.url], app), 'grex submit');
    assert.deepEqual(JSON.parse(submitted.stdout), { result: { greeting: 'hello Alice', greeted: 2 }, activeNode: node.url });
  });

  test("the library's exports work from the project: grex (startNode, defineJob) and grex/client; other paths are closed", async () => {
    await writeFile(join(app, 'library.mjs'), LIBRARY_SCRIPT);
    const result = ok(await run(process.execPath, ['library.mjs', node.url], app), 'library.mjs');
    assert.deepEqual(JSON.parse(result.stdout), {
      overHttp: { result: { greeting: 'hello Bob', greeted: 1 }, activeNode: node.url },
      inProcess: { greeting: 'hello Carol', greeted: 1 },
      defineJob: 'function',
      closed: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
  });

  test("the package's type declarations type-check an app through its exports, typed jobs included", async () => {
    await writeFile(join(app, 'typed-app.ts'), TYPED_APP);
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          allowImportingTsExtensions: true,
          skipLibCheck: true,
          types: ['node'],
          // The project has no @types/node of its own; lend it this repository's.
          typeRoots: [join(repoRoot, 'node_modules', '@types')],
        },
        include: ['typed-app.ts', 'jobs'],
      }),
    );
    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    ok(await run(process.execPath, [tsc, '-p', app, '--pretty', 'false'], app), 'tsc');
  });

  test('the node stops on SIGTERM with exit code 0', async () => {
    assert.equal(await node.stop('SIGTERM'), 0);
  });
});
