/**
 * Runs the test suite, or part of it, under another Node.js major version:
 *
 *   npm run test:node -- 22 [filters...]      (filters as for npm test)
 *
 * CI runs Node 20; package.json promises ">=20.15", and Grex must keep working
 * on 22 and 24. The official binary comes from the npm registry (package
 * node-<platform>-<arch>, the same files as nodejs.org's), so nothing but npm
 * is needed; it is kept in ~/.cache/grex/node/<version> for the next run. The
 * compiled tests (dist/) are the same for every version: build with the
 * machine's Node first (the npm script does).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newestOfMajor } from './node-versions.js';

const [majorArg, ...filters] = process.argv.slice(2);
const major = Number(majorArg);
if (!Number.isInteger(major) || major < 20) {
  console.error('usage: npm run test:node -- <major version, 20 or later> [test filters...]');
  process.exit(2);
}

if (process.platform === 'win32') {
  console.error('npm run test:node runs on Linux and macOS (the npm packages of Node for Windows are laid out differently)');
  process.exit(2);
}
const pkg = `node-${process.platform}-${process.arch}`;

function npmOut(args: string[]): string {
  const run = spawnSync('npm', args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`npm ${args.join(' ')} failed: ${run.stderr.trim()}`);
  return run.stdout;
}

const listed = JSON.parse(npmOut(['view', pkg, 'versions', '--json'])) as string[] | string;
const version = newestOfMajor(Array.isArray(listed) ? listed : [listed], major);
if (version === undefined) {
  console.error(`the npm registry has no ${pkg} of Node ${major}`);
  process.exit(2);
}

const home = join(homedir(), '.cache', 'grex', 'node', `${pkg}-${version}`);
const bin = join(home, 'package', 'bin');
if (!existsSync(join(bin, 'node'))) {
  const work = mkdtempSync(join(tmpdir(), 'grex-node-'));
  try {
    console.log(`fetching ${pkg}@${version} from the npm registry`);
    npmOut(['pack', `${pkg}@${version}`, '--pack-destination', work, '--silent']);
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
    if (tarball === undefined) throw new Error(`npm pack ${pkg}@${version} left no tarball`);
    const unpacked = join(work, 'unpacked');
    mkdirSync(unpacked);
    const tar = spawnSync('tar', ['xzf', join(work, tarball), '-C', unpacked], { stdio: 'inherit' });
    if (tar.status !== 0) throw new Error('tar failed');
    mkdirSync(dirname(home), { recursive: true });
    rmSync(home, { recursive: true, force: true });
    renameSync(unpacked, home);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const node = join(bin, 'node');
const runTests = join(dirname(fileURLToPath(import.meta.url)), 'run-tests.js');
console.log(`running the tests with ${node} (${version})`);
// First on PATH too: tests that start `node` or `npm` by name get this version.
const env = { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` };
const run = spawnSync(node, [runTests, ...filters], { stdio: 'inherit', env });
process.exit(run.status ?? 1);
