/**
 * Command-line flags of `grex start`, generated from the option table, so
 * every option has a flag and unknown flags are refused by name.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GrexError } from '../errors.js';
import { OPTION_NAMES, OPTIONS, type OptionName } from '../config/options.js';

export interface StartArgs {
  flags: Partial<Record<OptionName, string>>;
  configFile: string | undefined;
  printConfig: boolean;
  help: boolean;
}

function optionFlags(): NonNullable<ParseArgsConfig['options']> {
  const flags: NonNullable<ParseArgsConfig['options']> = {};
  for (const name of OPTION_NAMES) flags[OPTIONS[name].flag] = { type: 'string' };
  return flags;
}

function argsError(err: unknown): GrexError {
  return new GrexError('GREX_ERR_CONFIG_INVALID', (err as Error).message);
}

export function parseStartArgs(argv: string[]): StartArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...optionFlags(), config: { type: 'string' }, 'print-config': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
      strict: true,
    });
  } catch (err) {
    throw argsError(err);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const flags: Partial<Record<OptionName, string>> = {};
  for (const name of OPTION_NAMES) {
    const value = values[OPTIONS[name].flag];
    if (typeof value === 'string') flags[name] = value;
  }
  return {
    flags,
    configFile: typeof values.config === 'string' ? values.config : undefined,
    printConfig: values['print-config'] === true,
    help: values.help === true,
  };
}

export interface ClientArgs {
  positionals: string[];
  url: string;
  /** `--admin-token`, else GREX_ADMIN_TOKEN: sent as `Authorization: Bearer`. */
  adminToken: string | undefined;
  /** `--tls-ca`, else GREX_TLS_CA: a PEM CA file to trust for https nodes. */
  tlsCa: string | undefined;
  help: boolean;
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** Arguments of the commands that talk to a running node (submit, status). */
export function parseClientArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ClientArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        url: { type: 'string' },
        'admin-token': { type: 'string' },
        'tls-ca': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw argsError(err);
  }
  return {
    positionals: parsed.positionals,
    url: parsed.values.url ?? DEFAULT_URL,
    adminToken: nonEmpty(parsed.values['admin-token']) ?? nonEmpty(env[OPTIONS.adminToken.env]),
    tlsCa: nonEmpty(parsed.values['tls-ca']) ?? nonEmpty(env[OPTIONS.tlsCa.env]),
    help: parsed.values.help === true,
  };
}

export function startUsage(): string {
  const lines = OPTION_NAMES.map((name) => `  --${OPTIONS[name].flag.padEnd(24)} ${OPTIONS[name].env.padEnd(28)} ${OPTIONS[name].description}`);
  return [
    'Usage: grex start [options]',
    '',
    'Starts a Grex node (defaults: HTTP on 127.0.0.1:8080, data in ./grex-data, jobs from ./jobs).',
    '',
    '  --config <file.json>     GREX_CONFIG                  JSON file of options (camelCase keys)',
    '  --print-config                                        print the effective configuration (secrets masked) and exit',
    ...lines,
  ].join('\n');
}
