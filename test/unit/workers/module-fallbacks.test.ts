// Where a job module's imports go when Node cannot resolve them (both ways of hooking the loader use these rules).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compiledSource, fallbackFor, type FallbackData } from '../../../src/workers/module-fallbacks.js';

const data: FallbackData = {
  targets: { 'grex/job': 'file:///opt/grex/dist/src/job.js' },
  compiled: {
    'file:///jobs/helper.ts': 'export const a = 1;',
    'file:///jobs/lib/index.ts': 'export const b = 2;',
    'file:///jobs/mod.mts': 'export const c = 3;',
  },
};
const parent = 'file:///jobs/job.ts';

describe('module fallbacks', () => {
  test('grex specifiers go to this installation, whatever imports them', () => {
    assert.deepEqual(fallbackFor(data, 'grex/job', parent), { url: 'file:///opt/grex/dist/src/job.js' });
    assert.deepEqual(fallbackFor(data, 'grex/job', undefined), { url: 'file:///opt/grex/dist/src/job.js' });
  });

  test('relative imports written the TypeScript way name the compiled module', () => {
    for (const specifier of ['./helper.js', './helper', './helper.ts']) {
      assert.deepEqual(fallbackFor(data, specifier, parent), { url: 'file:///jobs/helper.ts', format: 'module' }, specifier);
    }
    assert.deepEqual(fallbackFor(data, './lib', parent), { url: 'file:///jobs/lib/index.ts', format: 'module' });
    assert.deepEqual(fallbackFor(data, './mod.mjs', parent), { url: 'file:///jobs/mod.mts', format: 'module' });
    assert.deepEqual(fallbackFor(data, '../helper.js', 'file:///jobs/lib/index.ts'), { url: 'file:///jobs/helper.ts', format: 'module' });
  });

  test('anything else has no fallback: Node\'s error stands', () => {
    assert.equal(fallbackFor(data, './missing.js', parent), undefined);
    assert.equal(fallbackFor(data, 'helper.js', parent), undefined, 'a bare name is a package, not a file');
    assert.equal(fallbackFor(data, './helper.js', undefined), undefined, 'no parent, nothing to be relative to');
    assert.equal(fallbackFor(data, 'grex/other', parent), undefined);
    assert.equal(fallbackFor(data, 'constructor', parent), undefined, 'only own entries count');
  });

  test('compiled modules are loaded from their JavaScript; other files from disk', () => {
    assert.equal(compiledSource(data, 'file:///jobs/helper.ts'), 'export const a = 1;');
    assert.equal(compiledSource(data, 'file:///jobs/job.js'), undefined);
    assert.equal(compiledSource(data, 'toString'), undefined);
  });
});
