/** Temporary folders that tests remove when they end. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { deferCleanup } from './cleanup.js';

/** A new empty folder, removed after the test (or suite) that created it. */
export async function tempDir(t: Pick<TestContext, 'after'>, prefix = 'grex-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  deferCleanup(t, () => rm(dir, { recursive: true, force: true, maxRetries: 5 }));
  return dir;
}
