/**
 * Builds a node's configuration from its sources, in increasing precedence:
 * defaults, the config file (JSON), GREX_* environment variables, command
 * line flags, then options passed in code. Every value is validated where
 * it comes from, and an unknown or invalid one stops the start with a
 * GREX_ERR_CONFIG_INVALID message that names it.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { GrexError } from '../errors.js';
import { defaultConfig, MASKED, OPTION_NAMES, OPTIONS, type GrexConfig, type GrexConfigInput, type OptionName } from './options.js';

export const CONFIG_FILE_ENV = 'GREX_CONFIG';

export interface ConfigSources {
  /** Path of a JSON config file. */
  file?: string | undefined;
  /** Environment (GREX_* variables are read). */
  env?: NodeJS.ProcessEnv;
  /** Option name -> raw flag value. */
  flags?: Partial<Record<OptionName, string>>;
  /** Options given in code. */
  options?: GrexConfigInput;
}

function invalid(where: string, message: string): GrexError {
  return new GrexError('GREX_ERR_CONFIG_INVALID', `${where}: ${message}`, { where });
}

/** Validates one value of one option; `where` names its source in errors. */
function parseValue(name: OptionName, value: unknown, where: string): unknown {
  const result = OPTIONS[name].schema.safeParse(value);
  if (!result.success) {
    // A secret is never echoed, not even a wrong one.
    const shown = (OPTIONS[name] as { secret?: boolean }).secret === true ? MASKED : typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw invalid(where, `${result.error.issues[0]?.message ?? 'invalid value'} (got ${shown})`);
  }
  return result.data;
}

/** Validates options given as an object (config file, code): unknown keys are refused. */
export function parseOptionsObject(input: unknown, source: string): GrexConfigInput {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid(source, 'expected an object of options');
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (!Object.hasOwn(OPTIONS, key)) {
      throw invalid(`${source} key ${JSON.stringify(key)}`, `unknown option (known: ${OPTION_NAMES.join(', ')})`);
    }
    if (value === undefined) continue;
    out[key] = parseValue(key as OptionName, value, `${source} key ${JSON.stringify(key)}`);
  }
  return out as GrexConfigInput;
}

export function parseEnv(env: NodeJS.ProcessEnv): GrexConfigInput {
  const byVar = new Map(OPTION_NAMES.map((name) => [OPTIONS[name].env, name]));
  const out: Record<string, unknown> = {};
  for (const [variable, value] of Object.entries(env)) {
    if (!variable.startsWith('GREX_') || variable === CONFIG_FILE_ENV || value === undefined) continue;
    const name = byVar.get(variable);
    if (name === undefined) {
      throw invalid(`environment variable ${variable}`, `unknown (known: ${[...byVar.keys(), CONFIG_FILE_ENV].join(', ')})`);
    }
    out[name] = parseValue(name, (name === 'http' || name === 'bleet') && value === 'false' ? false : value, `environment variable ${variable}`);
  }
  return out as GrexConfigInput;
}

export function parseFlags(flags: Partial<Record<OptionName, string>>): GrexConfigInput {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(flags) as [OptionName, string | undefined][]) {
    if (value === undefined) continue;
    out[name] = parseValue(name, (name === 'http' || name === 'bleet') && value === 'false' ? false : value, `flag --${OPTIONS[name].flag}`);
  }
  return out as GrexConfigInput;
}

export async function readConfigFile(path: string): Promise<GrexConfigInput> {
  const full = resolve(path);
  let text: string;
  try {
    text = await readFile(full, 'utf8');
  } catch (err) {
    throw invalid(`config file ${full}`, `cannot read it (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalid(`config file ${full}`, `not valid JSON (${(err as Error).message})`);
  }
  return parseOptionsObject(parsed, `config file ${full}`);
}

/** Checks options that only make sense together; the message names them. */
export function checkCombinations(config: GrexConfig): GrexConfig {
  if (config.secret !== undefined && config.secretFile !== undefined) {
    throw invalid('options secret and secretFile', 'give the cluster secret one way, not both');
  }
  if ((config.tlsKey === undefined) !== (config.tlsCert === undefined)) {
    throw invalid(config.tlsKey === undefined ? 'option tlsCert' : 'option tlsKey', 'TLS needs both tlsKey and tlsCert');
  }
  if (config.tlsCa !== undefined && config.tlsKey === undefined) {
    throw invalid('option tlsCa', 'needs tlsKey and tlsCert too (a node either uses TLS for HTTP and bleets or does not)');
  }
  if (config.protectReads && config.adminToken === undefined) {
    throw invalid('option protectReads', 'needs adminToken (the token readers must send)');
  }
  return config;
}

/** The effective configuration: defaults < file < environment < flags < options. */
export async function loadConfig(sources: ConfigSources): Promise<GrexConfig> {
  const env = sources.env ?? {};
  const file = sources.file ?? env[CONFIG_FILE_ENV];
  return checkCombinations({
    ...defaultConfig(),
    ...(file === undefined || file === '' ? {} : await readConfigFile(file)),
    ...parseEnv(env),
    ...parseFlags(sources.flags ?? {}),
    ...(sources.options === undefined ? {} : parseOptionsObject(sources.options, 'option')),
  });
}

/** Options given in code over the defaults (no file, no environment). */
export function resolveConfig(options: GrexConfigInput = {}): GrexConfig {
  return checkCombinations({ ...defaultConfig(), ...parseOptionsObject(options, 'option') });
}
