import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newestOfMajor } from '../../../scripts/node-versions.js';

test('the newest release of a major is chosen by number, not by text', () => {
  const versions = ['22.2.0', '22.10.1', '22.9.9', '24.0.0', '22.10.0', '20.19.0'];
  assert.equal(newestOfMajor(versions, 22), '22.10.1');
  assert.equal(newestOfMajor(versions, 24), '24.0.0');
  assert.equal(newestOfMajor(versions, 20), '20.19.0');
});

test('pre-releases and other majors are left out; none is undefined', () => {
  assert.equal(newestOfMajor(['24.1.0-rc.1', '24.0.2', '240.0.0'], 24), '24.0.2');
  assert.equal(newestOfMajor(['22.1.0'], 26), undefined);
  assert.equal(newestOfMajor([], 22), undefined);
});
