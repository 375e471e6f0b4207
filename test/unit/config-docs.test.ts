// Keeps docs/configuration.md's option table in step with OPTIONS
// (src/config/options.ts): every option once, with its declared flag,
// environment variable and (where it is a fixed value) default.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPTION_NAMES, OPTIONS, type OptionName } from '../../src/config/options.js';
import { CONFIG_FILE_ENV, parseOptionsObject } from '../../src/config/load-config.js';
import { markdownTable, unquote } from '../helpers/markdown-table.js';
import { repoRoot } from '../helpers/paths.js';

const doc = readFileSync(join(repoRoot, 'docs', 'configuration.md'), 'utf8');

/** Options whose default depends on the machine or the node, so the docs describe it in words. */
const DESCRIBED_DEFAULTS: Partial<Record<OptionName, RegExp>> = {
  workers: /available cores less one/i,
  url: /http:\/\/<http address>/i,
  nodeId: /generated.*data folder/i,
  peers: /none/i,
  secret: /none/i,
  secretFile: /none/i,
  tlsKey: /none/i,
  tlsCert: /none/i,
  tlsCa: /system CAs/i,
  adminToken: /none/i,
  heapGrowthPercent: /V8's own/i,
};

interface DocRow {
  option: string;
  flag: string;
  env: string;
  default: string;
  meaning: string;
}

function docRows(): DocRow[] {
  return markdownTable(doc, ['option', 'flag', 'environment', 'default', 'meaning'], 'docs/configuration.md').map((row) => ({
    option: unquote(row[0]!),
    flag: unquote(row[1]!),
    env: unquote(row[2]!),
    default: row[3]!,
    meaning: row[4]!,
  }));
}

describe('docs/configuration.md', () => {
  const rows = docRows();

  test('lists exactly the options of OPTIONS, each once', () => {
    const documented = rows.map((row) => row.option);
    const missing = OPTION_NAMES.filter((name) => !documented.includes(name));
    const stale = documented.filter((name) => !Object.hasOwn(OPTIONS, name));
    const duplicated = documented.filter((name, index) => documented.indexOf(name) !== index);
    assert.deepEqual({ missing, stale, duplicated }, { missing: [], stale: [], duplicated: [] });
  });

  test('gives each option its declared flag and environment variable', () => {
    const wrong: string[] = [];
    for (const row of rows) {
      if (!Object.hasOwn(OPTIONS, row.option)) continue;
      const spec = OPTIONS[row.option as OptionName];
      if (row.flag !== `--${spec.flag}`) wrong.push(`${row.option}: flag ${row.flag}, declared --${spec.flag}`);
      if (row.env !== spec.env) wrong.push(`${row.option}: environment ${row.env}, declared ${spec.env}`);
    }
    assert.deepEqual(wrong, []);
  });

  test('shows each fixed default as declared, and describes the computed ones', () => {
    const wrong: string[] = [];
    for (const row of rows) {
      if (!Object.hasOwn(OPTIONS, row.option)) continue;
      const name = row.option as OptionName;
      const described = DESCRIBED_DEFAULTS[name];
      if (described !== undefined) {
        if (!described.test(row.default)) wrong.push(`${name}: default "${row.default}" should match ${described}`);
        continue;
      }
      const declared = OPTIONS[name].default();
      if (declared === undefined) {
        wrong.push(`${name}: has no default; add it to DESCRIBED_DEFAULTS with the docs' wording`);
        continue;
      }
      const shown = unquote(row.default);
      if (shown !== String(declared) && !shown.startsWith(`${String(declared)} `)) wrong.push(`${name}: default "${row.default}", declared ${String(declared)}`);
    }
    assert.deepEqual(wrong, []);
  });

  test('gives every option a meaning', () => {
    assert.deepEqual(
      rows.filter((row) => row.meaning.length < 10).map((row) => row.option),
      [],
    );
  });

  test('documents the config file flag and variable, the precedence and --print-config', () => {
    assert.match(doc, /--config <file>/);
    assert.ok(doc.includes(CONFIG_FILE_ENV), `mentions ${CONFIG_FILE_ENV}`);
    assert.match(doc, /--print-config/);
    assert.match(doc, /GREX_ERR_CONFIG_INVALID/);
    assert.match(doc, /startNode\(options\)/);
  });

  test('has an example config file that is a valid config', () => {
    const example = /```json\n([\s\S]*?)```/.exec(doc);
    assert.ok(example, 'a ```json example');
    const parsed: unknown = JSON.parse(example[1]!);
    assert.doesNotThrow(() => parseOptionsObject(parsed, 'example config file'));
  });
});
