/**
 * Every code sample in README.md and docs/*.md comes from a file that a test
 * runs, and every shell command in them is one that works.
 *
 * - A TypeScript or JavaScript block (```ts, ```js, ...) must be preceded by
 *   `<!-- sample: <path>#<region> -->` (or `<!-- sample: <path> -->` for a
 *   whole file) and equal that region: the lines between `// #region <name>`
 *   and `// #endregion <name>`, dedented. The file must be run by a test: an
 *   example under examples/ that a test starts, a job in jobs/ that a test
 *   submits to, or a file under test/.
 * - A shell block (```sh) may only hold commands this test checks: `npm`
 *   commands whose scripts exist in package.json; `grex`/`npx grex` commands
 *   whose arguments the CLI's parsers accept; `node --import tsx <example>`
 *   for an example a test runs; and `curl` requests, which are sent (in
 *   order, per block) to a fresh node with the example jobs — each must
 *   succeed, and a `# {...}` comment after it must match the answer's result.
 * - Other blocks (```http, ```json, ```text, diagrams, transcripts) show
 *   wire formats and output, not code, and are not checked here.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { parseClientArgs, parseStartArgs } from '../../src/cli/args.js';
import { createHttpServer } from '../../src/http/server.js';
import { startTestNode } from '../helpers/nodes.js';
import { exampleJobs, repoRoot } from '../helpers/paths.js';

interface CodeBlock {
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  body: string;
  /** `path#region` of the sample marker right above the block, if any. */
  sample: string | undefined;
}

const CODE_LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs', 'mts', 'tsx']);
const SHELL_LANGS = new Set(['sh', 'shell', 'bash']);
const MARKER = /^<!--\s*sample:\s*(\S+)\s*-->$/;

function docs(): string[] {
  const inDocs = readdirSync(join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`);
  return ['README.md', ...inDocs.sort()];
}

function codeBlocks(doc: string): { blocks: CodeBlock[]; danglingMarkers: number[] } {
  const lines = readFileSync(join(repoRoot, doc), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  const danglingMarkers: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const marker = MARKER.exec(lines[i]!.trim());
    if (marker !== null && !/^```/.test(lines[i + 1] ?? '')) danglingMarkers.push(i + 1);
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    const above = MARKER.exec((lines[start - 1] ?? '').trim());
    blocks.push({ doc, line: start + 1, lang: open[1]!.toLowerCase(), body: body.join('\n'), sample: above?.[1] });
  }
  return { blocks, danglingMarkers };
}

/** The lines of a file between `// #region name` and `// #endregion name` (or the whole file without region lines), dedented. */
function sampleText(path: string, region: string | undefined): string {
  const lines = readFileSync(join(repoRoot, path), 'utf8').split('\n');
  const isRegionLine = (l: string) => /^\s*\/\/\s*#(end)?region\b/.test(l);
  let picked: string[];
  if (region === undefined) {
    picked = lines.filter((l) => !isRegionLine(l));
  } else {
    const start = lines.findIndex((l) => new RegExp(`^\\s*//\\s*#region ${region}\\s*$`).test(l));
    const end = lines.findIndex((l, i) => i > start && new RegExp(`^\\s*//\\s*#endregion ${region}\\s*$`).test(l));
    assert.ok(start !== -1 && end !== -1, `${path} has no region ${region}`);
    picked = lines.slice(start + 1, end).filter((l) => !isRegionLine(l));
  }
  const indent = Math.min(...picked.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
  return picked
    .map((l) => l.slice(Number.isFinite(indent) ? indent : 0))
    .join('\n')
    .replace(/^\n+|\s+$/g, '');
}

function testSources(dir = join(repoRoot, 'test')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : testSources(path);
    // This file names examples and jobs without running them.
    return entry.name.endsWith('.test.ts') && entry.name !== 'docs-samples.test.ts' ? [readFileSync(path, 'utf8')] : [];
  });
}

const TESTS = testSources();

/** Why a file is run by a test, or undefined if no test runs it. */
function ranBy(path: string): string | undefined {
  const example = /^examples\/([^/]+)\//.exec(path);
  if (example !== null) {
    return TESTS.some((source) => source.includes(`examples/${example[1]}/`)) ? `a test runs examples/${example[1]}/` : undefined;
  }
  const job = /^jobs\/([a-z0-9][a-z0-9_-]*)\.(ts|js)$/.exec(path);
  if (job !== null) {
    return TESTS.some((source) => source.includes('exampleJobs') && source.includes(`'${job[1]}'`)) ? `a test submits to job ${job[1]}` : undefined;
  }
  if (path.startsWith('test/') && existsSync(join(repoRoot, path))) return 'a test file';
  return undefined;
}

// ---- shell commands ----

/** Splits a command line into words, honouring quotes; also returns the `# comment` after it. */
function shellWords(line: string): { words: string[]; comment: string | undefined } {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'" || c === '"') {
      const close = line.indexOf(c, i + 1);
      assert.ok(close !== -1, `unclosed quote in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, close);
      i = close;
    } else if (c === ' ' || c === '\t') {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === '#' && word === null) {
      return { words, comment: line.slice(i + 1).trim() };
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) words.push(word);
  return { words, comment: undefined };
}

interface ShellCommand {
  words: string[];
  comment: string | undefined;
  text: string;
}

/** The commands of a shell block; a comment on a line of its own right below a command is that command's expected output. */
function shellCommands(body: string): ShellCommand[] {
  const joined = body.replace(/\\\n\s*/g, ' ');
  const all: ShellCommand[] = [];
  let previousLine: ShellCommand | undefined;
  for (const line of joined.split('\n')) {
    const { words, comment } = shellWords(line);
    if (words.length === 0) {
      if (previousLine !== undefined && previousLine.comment === undefined) previousLine.comment = comment;
      previousLine = undefined;
      continue;
    }
    const commands: ShellCommand[] = [];
    let current: string[] = [];
    for (const word of [...words, '&&']) {
      if (word !== '&&') {
        current.push(word);
        continue;
      }
      // Leading VAR=value assignments only set the environment.
      while (current.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(current[0]!)) current.shift();
      if (current.length > 0) commands.push({ words: current, comment: undefined, text: line.trim() });
      current = [];
    }
    if (commands.length > 0) commands.at(-1)!.comment = comment;
    all.push(...commands);
    previousLine = commands.at(-1);
  }
  return all;
}

const PACKAGE = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

function checkNpm(words: string[]): void {
  const [, command, ...rest] = words;
  if (command === 'install' || command === 'ci') return;
  if (command === 'start' || command === 'test') {
    assert.ok(PACKAGE.scripts[command] !== undefined, `package.json has no ${command} script`);
    return;
  }
  if (command === 'run') {
    assert.ok(PACKAGE.scripts[rest[0]!] !== undefined, `package.json has no script ${rest[0]}`);
    return;
  }
  assert.fail(`npm ${command} is not a command the docs may show`);
}

function checkGrex(args: string[]): void {
  const [command, ...rest] = args;
  switch (command) {
    case 'start':
    case undefined:
      parseStartArgs(rest);
      return;
    case 'cluster':
      return;
    case 'submit': {
      const parsed = parseClientArgs(rest);
      assert.ok(parsed.positionals.length === 2 || parsed.positionals.length === 3, 'grex submit <bucketKey> <jobName> [json]');
      if (parsed.positionals[2] !== undefined) JSON.parse(parsed.positionals[2]);
      return;
    }
    case 'status':
    case 'leave':
      assert.equal(parseClientArgs(rest).positionals.length, 0, `grex ${command} takes no arguments`);
      return;
    case 'remove':
      assert.equal(parseClientArgs(rest).positionals.length, 1, 'grex remove <nodeId>');
      return;
    case 'farm': {
      const parsed = parseClientArgs(rest);
      assert.ok(parsed.positionals.length > 0 && parsed.positionals.every((p) => /^[^=]+=.+$/.test(p)), 'grex farm <nodeId>=<farm>...');
      return;
    }
    case '--version':
    case '--help':
      return;
    default:
      assert.fail(`grex ${command} is not a grex command`);
  }
}

function checkNodeScript(words: string[]): void {
  const file = words.find((w) => /\.(ts|js|mjs)$/.test(w));
  assert.ok(file !== undefined && words.includes('--import') && words.includes('tsx'), 'node commands run an example: node --import tsx <file>');
  assert.ok(existsSync(join(repoRoot, file)), `${file} exists`);
  assert.ok(ranBy(file) !== undefined, `no test runs ${file}`);
}

interface CurlRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

function parseCurl(words: string[]): CurlRequest {
  let method: string | undefined;
  let target: string | undefined;
  let body: string | undefined;
  const headers: Record<string, string> = {};
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (w === '-X' || w === '--request') method = words[++i];
    else if (w === '-H' || w === '--header') {
      const [name, ...value] = words[++i]!.split(':');
      headers[name!.trim().toLowerCase()] = value.join(':').trim();
    } else if (w === '-d' || w === '--data' || w === '--data-raw' || w === '--data-binary') body = words[++i];
    else if (/^-[a-zA-Z]+$/.test(w)) continue; // -s, -i, -sS: output options
    else target = w;
  }
  assert.ok(target !== undefined, 'curl needs a URL');
  const url = new URL(/^https?:\/\//.test(target) ? target : `http://${target}`);
  return { method: method ?? (body === undefined ? 'GET' : 'POST'), url: url.pathname + url.search, headers, body };
}

/** The routes an example app declares (`app.post('/customers/:id', ...)`) and the prefix it mounts Grex under. */
function appRoutes(file: string): { routes: { method: string; pattern: RegExp }[]; grexPrefix: string | undefined } {
  const source = readFileSync(join(repoRoot, file), 'utf8');
  const routes = [...source.matchAll(/\bapp\.(get|post|put|delete|patch)(?:<[^(]*>)?\(\s*'([^']+)'/g)].map((m) => ({
    method: m[1]!.toUpperCase(),
    pattern: new RegExp(`^${m[2]!.replace(/:[A-Za-z]+/g, '[^/]+')}$`),
  }));
  return { routes, grexPrefix: /register\(grexRoutes, \{[^}]*prefix: '([^']+)'/.exec(source)?.[1] };
}

async function runCurls(t: TestContext, requests: { request: CurlRequest; comment: string | undefined; text: string }[]): Promise<void> {
  if (requests.length === 0) return;
  const node = await startTestNode(t, { jobs: exampleJobs, workers: 1 });
  const app = createHttpServer(node, { bodyLimitBytes: 1024 * 1024 });
  t.after(() => app.close());
  for (const { request, comment, text } of requests) {
    const answer = await app.inject({ method: request.method as 'GET', url: request.url, headers: request.headers, ...(request.body === undefined ? {} : { payload: request.body }) });
    assert.ok(answer.statusCode < 400, `${text}\n-> ${answer.statusCode} ${answer.body}`);
    if (comment?.startsWith('{')) {
      const expected = JSON.parse(comment) as Record<string, unknown>;
      const actual = answer.json() as Record<string, unknown>;
      if ('result' in expected) assert.deepEqual(actual.result, expected.result, text);
    }
  }
}

describe('code samples in README.md and docs/', () => {
  const all = docs().map((doc) => ({ doc, ...codeBlocks(doc) }));

  test('every sample marker is followed by a code block', () => {
    assert.deepEqual(
      all.flatMap(({ doc, danglingMarkers }) => danglingMarkers.map((line) => `${doc}:${line}`)),
      [],
    );
  });

  for (const { doc, blocks } of all) {
    const code = blocks.filter((b) => CODE_LANGS.has(b.lang));
    const shell = blocks.filter((b) => SHELL_LANGS.has(b.lang));

    if (code.length > 0) {
      test(`${doc}: each code block equals its sample, in a file a test runs`, () => {
        for (const block of code) {
          assert.ok(block.sample !== undefined, `${doc}:${block.line}: a ${block.lang} block needs <!-- sample: path#region --> above it`);
          const [path, region] = block.sample.split('#') as [string, string | undefined];
          assert.ok(existsSync(join(repoRoot, path)), `${doc}:${block.line}: ${path} does not exist`);
          assert.ok(ranBy(path) !== undefined, `${doc}:${block.line}: no test runs ${path}`);
          assert.equal(block.body.replace(/\s+$/, ''), sampleText(path, region), `${doc}:${block.line}: differs from ${block.sample}`);
        }
      });
    }

    if (shell.length > 0) {
      test(`${doc}: each shell command is one that works`, async (t) => {
        for (const block of shell) {
          const curls: Parameters<typeof runCurls>[1] = [];
          const commands = shellCommands(block.body);
          // A block that starts an example app may also call the app's own routes.
          const app = commands.map((c) => c.words.find((w) => /^examples\/.*\.ts$/.test(w))).find((f) => f !== undefined);
          const { routes, grexPrefix } = app === undefined ? { routes: [], grexPrefix: undefined } : appRoutes(app);
          for (const command of commands) {
            const where = `${doc}:${block.line}: ${command.text}`;
            const [program, ...args] = command.words;
            try {
              if (program === 'npm') checkNpm(command.words);
              else if (program === 'npx' && args[0] === 'grex') checkGrex(args.slice(1));
              else if (program === 'grex') checkGrex(args);
              else if (program === 'node') checkNodeScript(command.words);
              else if (program === 'curl') {
                const request = parseCurl(command.words);
                const path = request.url.split('?')[0]!;
                if (grexPrefix !== undefined && path.startsWith(`${grexPrefix}/`)) request.url = request.url.slice(grexPrefix.length);
                else if (routes.some((r) => r.method === request.method && r.pattern.test(path))) continue; // the app's own route; its test sends it
                curls.push({ request, comment: command.comment, text: where });
              }
              else assert.fail(`${program} is not a command the docs may show (npm, grex, npx grex, node --import tsx, curl)`);
            } catch (err) {
              assert.fail(`${where}\n${(err as Error).message}`);
            }
          }
          await runCurls(t, curls);
        }
      });
    }
  }
});

test('the sample checker reads regions and shell words the way the docs use them', () => {
  assert.deepEqual(shellWords(`npx grex submit johndoe counter '{"by": 5}'   # the same from the CLI`), {
    words: ['npx', 'grex', 'submit', 'johndoe', 'counter', '{"by": 5}'],
    comment: 'the same from the CLI',
  });
  assert.deepEqual(
    shellCommands('GREX_X=1 npm install && npm start   # go').map((c) => c.words),
    [['npm', 'install'], ['npm', 'start']],
  );
  assert.deepEqual(
    shellCommands('curl localhost:8080/route/b\n# {"flock": 1}\n\ncurl localhost:8080/health').map((c) => c.comment),
    ['{"flock": 1}', undefined],
  );
  assert.deepEqual(parseCurl(['curl', '-X', 'POST', 'localhost:8080/buckets/b/jobs/counter', '-H', 'content-type: application/json', '-d', '{"by": 2}']), {
    method: 'POST',
    url: '/buckets/b/jobs/counter',
    headers: { 'content-type': 'application/json' },
    body: '{"by": 2}',
  });
  assert.match(sampleText('jobs/counter.ts', 'job'), /^import \{ defineJob \} from 'grex\/job';\n\nexport default defineJob\(/);
  assert.throws(() => checkNpm(['npm', 'run', 'no-such-script']), /no script no-such-script/);
  assert.throws(() => checkGrex(['start', '--no-such-flag', 'x']), /no-such-flag/);
  assert.equal(ranBy('examples/no-such-example/x.ts'), undefined);
});
