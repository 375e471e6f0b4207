// Syncing a whole filesystem at once (syncfs through `sync --file-system`): used
// only on kernels whose syncfs reports write-back errors, and given up for good
// at the first failure (the caller then syncs file by file).
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { filesystemSync, syncfsReportsErrors } from '../../../src/store/filesystem-sync.js';
import { tempDir } from '../../helpers/temp-dir.js';

test('syncfs is trusted on Linux 5.8 and later only', () => {
  const cases: [string, string, boolean][] = [
    ['linux', '5.8.0', true],
    ['linux', '5.15.0-91-generic', true],
    ['linux', '6.18.44-fc-v669', true],
    ['linux', '10.0.1', true],
    ['linux', '5.7.19', false],
    ['linux', '4.19.0-25-amd64', false],
    ['linux', 'unknown', false],
    ['darwin', '23.1.0', false],
    ['win32', '10.0.22631', false],
  ];
  for (const [platform, kernel, trusted] of cases) assert.equal(syncfsReportsErrors(platform, kernel), trusted, `${platform} ${kernel}`);
});

test('on this machine the filesystem is synced at once exactly when syncfs is trusted', async (t) => {
  const dir = await tempDir(t);
  assert.equal(await filesystemSync()(dir), syncfsReportsErrors());
});

test('a command that is missing or fails answers false, and after a failure it is not run again', async (t) => {
  if (!syncfsReportsErrors()) return; // nothing is ever run here
  assert.equal(await filesystemSync('grex-no-such-command')(process.cwd()), false);
  const dir = await tempDir(t);
  const runs = join(dir, 'runs');
  const failing = join(dir, 'failing-sync');
  await writeFile(failing, `#!/bin/sh\necho "$@" >> "${runs}"\nexit 1\n`);
  await chmod(failing, 0o755);
  const sync = filesystemSync(failing);
  assert.equal(await sync(dir), false);
  assert.equal(await sync(dir), false);
  assert.equal(await readFile(runs, 'utf8'), `--file-system ${dir}\n`);
});
