// Covers building a node's configuration (src/config/load-config.ts,
// src/config/options.ts, src/cli/args.ts): defaults, the precedence of the
// sources, string-to-number conversion, refusal of unknown and invalid
// values by name (secrets never echoed), options that only work together,
// `http: false`, and the same checks through `grex start`, whose
// --print-config masks secrets.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import {
  CONFIG_FILE_ENV,
  loadConfig,
  parseEnv,
  parseFlags,
  parseOptionsObject,
  readConfigFile,
  resolveConfig,
} from '../../src/config/load-config.js';
import { defaultConfig, maskSecrets, MASKED, OPTION_NAMES, OPTIONS, type OptionName } from '../../src/config/options.js';
import { parseStartArgs } from '../../src/cli/args.js';
import { GrexError } from '../../src/errors.js';
import { cliPath } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Asserts that `fn` throws (or rejects with) GREX_ERR_CONFIG_INVALID whose message contains every `names`. */
async function assertConfigInvalid(fn: () => unknown, ...names: string[]): Promise<GrexError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GrexError, `expected a GrexError, got ${String(caught)}`);
  assert.equal(caught.code, 'GREX_ERR_CONFIG_INVALID');
  for (const name of names) assert.ok(caught.message.includes(name), `message ${JSON.stringify(caught.message)} should name ${name}`);
  return caught;
}

async function writeJson(dir: string, name: string, value: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(value));
  return path;
}

const DEFAULTS = {
  http: '127.0.0.1:8080',
  data: './grex-data',
  store: 'fs',
  fsync: 'always',
  coalesceMs: 30_000,
  jobs: './jobs',
  workers: Math.max(1, availableParallelism() - 1),
  cacheMb: 256,
  flocks: 1024,
  jobTimeoutMs: 30_000,
  maxQueuedJobs: 10_000,
  maxQueuedPerBucket: 1_000,
  bodyLimitMb: 8,
  maxHttpRequests: 4096,
  maxHttpBodyMb: 128,
  itemLimitMb: 16,
  bleet: false,
  peers: [],
  replicas: 3,
  writeQuorum: 'majority',
  herd: true,
  farm: 'auto',
  heartbeatMs: 250,
  suspectAfterMs: 1000,
  deadAfterMs: 2000,
  bleetTimeoutMs: 10_000,
  bleetMaxFrameMb: 64,
  antiEntropyMs: 60_000,
  antiEntropyMbps: 8,
  transferMbps: 64,
  protectReads: false,
  faultInjection: false,
  logLevel: 'info',
};

describe('defaults', () => {
  test('every option with a default is filled, url and nodeId are left unset', () => {
    assert.deepEqual(defaultConfig(), DEFAULTS);
    assert.deepEqual(resolveConfig(), DEFAULTS);
    assert.equal('url' in defaultConfig(), false);
    assert.equal('nodeId' in defaultConfig(), false);
  });

  test('loadConfig with no sources gives the defaults and reads no process environment', async () => {
    assert.deepEqual(await loadConfig({}), DEFAULTS);
  });

  test('resolveConfig keeps the defaults of options it is not given', () => {
    assert.deepEqual(resolveConfig({ cacheMb: 64, url: undefined }), { ...DEFAULTS, cacheMb: 64 });
  });
});

describe('precedence', () => {
  test('defaults < config file < environment < flags < options', async (t) => {
    const dir = await tempDir(t);
    const file = await writeJson(dir, 'grex.json', { cacheMb: 1, workers: 1, flocks: 2, jobTimeoutMs: 100, logLevel: 'warn' });
    const config = await loadConfig({
      file,
      env: { GREX_CACHE_MB: '2', GREX_WORKERS: '2', GREX_FLOCKS: '4' },
      flags: { cacheMb: '3', workers: '3' },
      options: { cacheMb: 4 },
    });
    assert.equal(config.cacheMb, 4, 'options beat flags');
    assert.equal(config.workers, 3, 'flags beat the environment');
    assert.equal(config.flocks, 4, 'the environment beats the file');
    assert.equal(config.jobTimeoutMs, 100, 'the file beats the defaults');
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.bodyLimitMb, DEFAULTS.bodyLimitMb, 'untouched options keep their defaults');
  });

  test('the config file is found through GREX_CONFIG, and an explicit file wins over it', async (t) => {
    const dir = await tempDir(t);
    const fromEnv = await writeJson(dir, 'env.json', { cacheMb: 10 });
    const explicit = await writeJson(dir, 'explicit.json', { cacheMb: 20 });
    assert.equal((await loadConfig({ env: { [CONFIG_FILE_ENV]: fromEnv } })).cacheMb, 10);
    assert.equal((await loadConfig({ file: explicit, env: { [CONFIG_FILE_ENV]: fromEnv } })).cacheMb, 20);
  });

  test('an empty GREX_CONFIG means no config file', async () => {
    assert.deepEqual(await loadConfig({ env: { [CONFIG_FILE_ENV]: '' } }), DEFAULTS);
  });
});

describe('strings from the environment and flags', () => {
  test('numbers are converted', () => {
    const fromEnv = parseEnv({ GREX_WORKERS: '4', GREX_CACHE_MB: '64.5', GREX_JOB_TIMEOUT_MS: '1500', GREX_MAX_QUEUED_PER_BUCKET: '0', GREX_HEAP_GROWTH_PERCENT: '20' });
    assert.deepEqual(fromEnv, { workers: 4, cacheMb: 64.5, jobTimeoutMs: 1500, maxQueuedPerBucket: 0, heapGrowthPercent: 20 });
    const fromFlags = parseFlags({ workers: '4', flocks: '256', itemLimitMb: '0.5' });
    assert.deepEqual(fromFlags, { workers: 4, flocks: 256, itemLimitMb: 0.5 });
  });

  test('text options are taken as they are', () => {
    assert.deepEqual(parseEnv({ GREX_DATA: '/var/lib/grex', GREX_STORE: 'memory', GREX_LOG_LEVEL: 'debug', GREX_HTTP: '[::1]:0' }), {
      data: '/var/lib/grex',
      store: 'memory',
      logLevel: 'debug',
      http: '[::1]:0',
    });
  });

  test('variables that do not start with GREX_, and GREX_CONFIG, are not options', () => {
    assert.deepEqual(parseEnv({ PATH: '/bin', HOME: '/root', grex_workers: 'abc', [CONFIG_FILE_ENV]: 'grex.json' }), {});
  });

  test('every option has a flag that parseStartArgs maps to its name', () => {
    for (const name of OPTION_NAMES) {
      assert.deepEqual(parseStartArgs([`--${OPTIONS[name].flag}`, 'v']).flags, { [name]: 'v' }, name);
    }
  });

  test('parseStartArgs separates --config, --print-config and the option flags', () => {
    assert.deepEqual(parseStartArgs(['--cache-mb', '64', '--config', 'grex.json', '--print-config', '--http=false']), {
      flags: { cacheMb: '64', http: 'false' },
      configFile: 'grex.json',
      printConfig: true,
      help: false,
    });
  });
});

describe('http: false', () => {
  test('means no listener from options, a config file, GREX_HTTP=false and --http false', async (t) => {
    const dir = await tempDir(t);
    assert.equal(resolveConfig({ http: false }).http, false);
    assert.equal((await loadConfig({ options: { http: false } })).http, false);
    assert.equal((await loadConfig({ file: await writeJson(dir, 'c.json', { http: false }) })).http, false);
    assert.equal((await loadConfig({ env: { GREX_HTTP: 'false' } })).http, false);
    assert.equal(parseEnv({ GREX_HTTP: 'false' }).http, false);
    assert.equal(parseFlags({ http: 'false' }).http, false);
  });

  test('true is not an address', async () => {
    await assertConfigInvalid(() => parseOptionsObject({ http: true }, 'option'), '"http"');
  });
});

describe('invalid values', () => {
  /** Each invalid value, as an option value and as the string the environment or a flag would carry. */
  const cases: { name: OptionName; value: unknown }[] = [
    { name: 'workers', value: 'abc' },
    { name: 'workers', value: 0 },
    { name: 'flocks', value: 1000 },
    { name: 'fsync', value: 'sometimes' },
    { name: 'http', value: 'nohost' },
    { name: 'http', value: 'h:70000' },
    { name: 'logLevel', value: 'loud' },
    { name: 'cacheMb', value: -1 },
    { name: 'heapGrowthPercent', value: 5 },
    { name: 'heapGrowthPercent', value: 12.5 },
    { name: 'heapGrowthPercent', value: 1001 },
  ];

  for (const { name, value } of cases) {
    const { flag, env } = OPTIONS[name];
    test(`${name} ${JSON.stringify(value)} is refused naming the config key, ${env} and --${flag}`, async (t) => {
      await assertConfigInvalid(() => parseOptionsObject({ [name]: value }, 'option'), `"${name}"`, String(value));
      await assertConfigInvalid(() => resolveConfig({ [name]: value }), `"${name}"`);
      await assertConfigInvalid(() => parseEnv({ [env]: String(value) }), env, String(value));
      await assertConfigInvalid(() => parseFlags({ [name]: String(value) }), `--${flag}`, String(value));
      const file = await writeJson(await tempDir(t), 'grex.json', { [name]: value });
      await assertConfigInvalid(() => loadConfig({ file }), file, `"${name}"`);
    });
  }

  test('a secret that is too short is refused by name, and the value is not echoed', async (t) => {
    const short = 'hunter2';
    for (const fn of [
      () => parseOptionsObject({ secret: short }, 'option'),
      () => parseEnv({ GREX_SECRET: short }),
      () => parseFlags({ secret: short }),
      () => parseEnv({ GREX_ADMIN_TOKEN: short }),
      () => parseFlags({ adminToken: short }),
    ]) {
      const err = await assertConfigInvalid(fn, 'at least 16 characters');
      assert.equal(err.message.includes(short), false, `${err.message} must not show the value`);
      assert.match(err.message, /\*\*\*\*/);
    }
    const file = await writeJson(await tempDir(t), 'grex.json', { adminToken: short });
    const err = await assertConfigInvalid(() => loadConfig({ file }), '"adminToken"');
    assert.equal(err.message.includes(short), false);
  });

  test('options that only work together are refused naming them', async () => {
    const secret = 's'.repeat(16);
    await assertConfigInvalid(() => resolveConfig({ secret, secretFile: '/run/secrets/grex' }), 'secret and secretFile');
    await assertConfigInvalid(() => loadConfig({ env: { GREX_SECRET: secret }, flags: { secretFile: '/run/secrets/grex' } }), 'secretFile');
    await assertConfigInvalid(() => resolveConfig({ tlsKey: 'key.pem' }), 'tlsKey', 'tlsCert');
    await assertConfigInvalid(() => loadConfig({ flags: { tlsCert: 'cert.pem' } }), 'option tlsCert', 'tlsKey');
    await assertConfigInvalid(() => resolveConfig({ tlsCa: 'ca.pem' }), 'tlsCa');
    await assertConfigInvalid(() => loadConfig({ env: { GREX_PROTECT_READS: 'true' } }), 'protectReads', 'adminToken');
    assert.equal(resolveConfig({ tlsKey: 'k.pem', tlsCert: 'c.pem', tlsCa: 'ca.pem' }).tlsCa, 'ca.pem');
    assert.equal(resolveConfig({ adminToken: secret, protectReads: true }).protectReads, true);
  });

  test('protectReads takes true and false as strings from the environment and flags, and nothing else', async () => {
    assert.equal(parseEnv({ GREX_PROTECT_READS: 'true' }).protectReads, true);
    assert.equal(parseFlags({ protectReads: 'false' }).protectReads, false);
    await assertConfigInvalid(() => parseEnv({ GREX_PROTECT_READS: 'yes' }), 'GREX_PROTECT_READS');
  });

  test('the error says where the value came from in its data', async () => {
    const err = await assertConfigInvalid(() => parseFlags({ workers: 'abc' }), '--workers');
    assert.deepEqual(err.data, { where: 'flag --workers' });
  });

  test('an empty string is not a number', async () => {
    await assertConfigInvalid(() => parseEnv({ GREX_WORKERS: '' }), 'GREX_WORKERS');
    await assertConfigInvalid(() => parseFlags({ cacheMb: '  ' }), '--cache-mb');
  });

  test('null is not a value, even for options without a default', async () => {
    await assertConfigInvalid(() => parseOptionsObject({ url: null }, 'config file c.json'), '"url"');
    await assertConfigInvalid(() => parseOptionsObject({ nodeId: null }, 'config file c.json'), '"nodeId"');
  });

  test('url must be http or https and nodeId a short plain name', async () => {
    await assertConfigInvalid(() => parseOptionsObject({ url: 'ftp://example.com' }, 'option'), '"url"');
    await assertConfigInvalid(() => parseEnv({ GREX_NODE_ID: 'a/b' }), 'GREX_NODE_ID');
    await assertConfigInvalid(() => parseEnv({ GREX_NODE_ID: 'x'.repeat(65) }), 'GREX_NODE_ID');
    assert.deepEqual(parseOptionsObject({ url: 'https://grex-1.internal:8443', nodeId: 'grex-1' }, 'option'), {
      url: 'https://grex-1.internal:8443',
      nodeId: 'grex-1',
    });
  });
});

describe('unknown names', () => {
  test('an unknown config-file key is refused naming it and the file', async (t) => {
    const file = await writeJson(await tempDir(t), 'grex.json', { workers: 2, wrokers: 2 });
    await assertConfigInvalid(() => readConfigFile(file), '"wrokers"', file);
    await assertConfigInvalid(() => loadConfig({ file }), '"wrokers"');
  });

  test('an unknown key of startNode-style options is refused naming it', async () => {
    await assertConfigInvalid(() => resolveConfig({ wrokers: 2 } as never), '"wrokers"');
    await assertConfigInvalid(() => loadConfig({ options: { wrokers: 2 } as never }), '"wrokers"');
  });

  test('inherited object property names are not options', async () => {
    await assertConfigInvalid(() => parseOptionsObject(JSON.parse('{"__proto__": {"workers": 1}}'), 'config file c.json'), '"__proto__"');
    await assertConfigInvalid(() => parseOptionsObject({ toString: 'x' }, 'option'), '"toString"');
  });

  test('an unknown GREX_* variable is refused naming it', async () => {
    await assertConfigInvalid(() => parseEnv({ GREX_WROKERS: '2' }), 'GREX_WROKERS');
    await assertConfigInvalid(() => loadConfig({ env: { GREX_WROKERS: '2' } }), 'GREX_WROKERS');
  });

  test('an unknown flag of grex start is refused naming it', async () => {
    await assertConfigInvalid(() => parseStartArgs(['--wrokers', '2']), '--wrokers');
    await assertConfigInvalid(() => parseStartArgs(['--cache-mb', '64', 'extra']), 'extra');
  });

  test('a flag without its value is refused naming it', async () => {
    await assertConfigInvalid(() => parseStartArgs(['--workers']), '--workers');
  });
});

describe('config files', () => {
  test('a file that is not JSON is refused naming the file', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'grex.json');
    await writeFile(file, 'workers = 2\n');
    await assertConfigInvalid(() => readConfigFile(file), file, 'JSON');
    await assertConfigInvalid(() => loadConfig({ file }), file);
  });

  test('a file that is JSON but not an object is refused naming the file', async (t) => {
    const dir = await tempDir(t);
    for (const [name, value] of [['array.json', [1, 2]], ['null.json', null], ['number.json', 3]] as const) {
      const file = await writeJson(dir, name, value);
      await assertConfigInvalid(() => readConfigFile(file), file);
    }
  });

  test('a missing file is refused naming the file', async (t) => {
    const file = join(await tempDir(t), 'missing.json');
    await assertConfigInvalid(() => readConfigFile(file), file, 'ENOENT');
    await assertConfigInvalid(() => loadConfig({ env: { [CONFIG_FILE_ENV]: file } }), file);
  });

  test('a valid file gives its options, validated', async (t) => {
    const file = await writeJson(await tempDir(t), 'grex.json', { http: '0.0.0.0:9000', workers: 3, store: 'memory', fsync: 'never' });
    assert.deepEqual(await readConfigFile(file), { http: '0.0.0.0:9000', workers: 3, store: 'memory', fsync: 'never' });
  });
});

interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the compiled `grex` CLI in `cwd` with no GREX_* variables from this process. */
function runCli(args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('GREX_'))), ...extraEnv };
  return new Promise((resolve, reject) => {
    // A generous timeout: a CLI that wrongly starts a server never exits on its own.
    const child = spawn(process.execPath, [cliPath, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('grex start', () => {
  test('--workers abc exits non-zero naming --workers and GREX_ERR_CONFIG_INVALID', async (t) => {
    const run = await runCli(['start', '--workers', 'abc'], await tempDir(t));
    assert.equal(run.signal, null, `not killed: ${run.stderr}`);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /GREX_ERR_CONFIG_INVALID/);
    assert.match(run.stderr, /--workers/);
  });

  test('a config file with an unknown key exits non-zero naming the key', async (t) => {
    const dir = await tempDir(t);
    const file = await writeJson(dir, 'grex.json', { wrokers: 2 });
    const run = await runCli(['start', '--config', file], dir);
    assert.equal(run.signal, null, `not killed: ${run.stderr}`);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /GREX_ERR_CONFIG_INVALID/);
    assert.match(run.stderr, /wrokers/);
  });

  test('an unknown or invalid GREX_* variable exits non-zero naming it', async (t) => {
    const dir = await tempDir(t);
    for (const [variable, value] of [['GREX_WROKERS', '2'], ['GREX_FSYNC', 'sometimes'], ['GREX_SECRET', 'short']] as const) {
      const run = await runCli(['start'], dir, { [variable]: value });
      assert.equal(run.signal, null, `not killed: ${run.stderr}`);
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /GREX_ERR_CONFIG_INVALID/);
      assert.ok(run.stderr.includes(variable), `${run.stderr} names ${variable}`);
    }
  });

  test('an invalid value in the config file exits non-zero naming the key', async (t) => {
    const dir = await tempDir(t);
    const file = await writeJson(dir, 'grex.json', { protectReads: 'sometimes' });
    const run = await runCli(['start', '--config', file], dir);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /GREX_ERR_CONFIG_INVALID: config file .* key "protectReads"/);
  });

  test('a secret file that cannot be read stops the start naming secretFile', async (t) => {
    const dir = await tempDir(t);
    const run = await runCli(['start', '--secret-file', join(dir, 'missing'), '--store', 'memory', '--jobs', dir], dir);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /GREX_ERR_CONFIG_INVALID: option secretFile: cannot read .*missing \(ENOENT\)/);
  });

  test('an unknown flag exits non-zero naming it', async (t) => {
    const run = await runCli(['start', '--wrokers', '2'], await tempDir(t));
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /GREX_ERR_CONFIG_INVALID/);
    assert.match(run.stderr, /--wrokers/);
  });

  test('--print-config prints the effective configuration as JSON and exits 0 without starting a node', async (t) => {
    const dir = await tempDir(t);
    const run = await runCli(['start', '--print-config', '--cache-mb', '64'], dir);
    assert.equal(run.signal, null, `not killed: ${run.stderr}`);
    assert.equal(run.code, 0, run.stderr);
    const printed = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.equal(printed.cacheMb, 64);
    assert.equal(printed.http, DEFAULTS.http);
    assert.deepEqual(Object.keys(printed).sort(), Object.keys(DEFAULTS).sort());
    assert.equal(existsSync(join(dir, 'grex-data')), false, 'no data folder was created');
  });

  test('--print-config masks the cluster secret and the admin token, and shows the other security options', async (t) => {
    const dir = await tempDir(t);
    const secret = 'cluster-secret-never-printed-1234';
    const token = 'admin-token-never-printed-5678';
    const file = await writeJson(dir, 'grex.json', { adminToken: token, protectReads: true });
    const run = await runCli(
      ['start', '--print-config', '--config', file, '--secret', secret, '--tls-key', 'key.pem', '--tls-cert', 'cert.pem', '--tls-ca', 'ca.pem'],
      dir,
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.includes(secret), false, 'the secret is not printed');
    assert.equal(run.stdout.includes(token), false, 'the admin token is not printed');
    const printed = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.equal(printed.secret, '********');
    assert.equal(printed.adminToken, '********');
    assert.equal(printed.protectReads, true);
    assert.deepEqual([printed.tlsKey, printed.tlsCert, printed.tlsCa], ['key.pem', 'cert.pem', 'ca.pem']);
  });

  test('maskSecrets masks exactly the options declared secret', () => {
    const secretOptions = OPTION_NAMES.filter((name) => (OPTIONS[name] as { secret?: boolean }).secret === true);
    assert.deepEqual(secretOptions.sort(), ['adminToken', 'secret']);
    const config = { ...defaultConfig(), secret: 's'.repeat(16), adminToken: 't'.repeat(16), secretFile: '/run/secrets/grex' };
    const shown = maskSecrets(config);
    assert.deepEqual(shown, { ...config, secret: MASKED, adminToken: MASKED });
    assert.equal('secret' in maskSecrets(defaultConfig()), false, 'unset secrets stay unset');
  });
});
