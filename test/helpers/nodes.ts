/** Starting nodes in the test process. */
import type { TestContext } from 'node:test';
import { startNode, type GrexNode, type StartNodeOptions } from '../../src/grex-node.js';
import { fixtureJobs } from './paths.js';
import { deferCleanup } from './cleanup.js';

/** A node with the fixture jobs, in-memory store, no listener, two threads; stopped after the test. */
export async function startTestNode(t: Pick<TestContext, 'after'>, options: StartNodeOptions = {}): Promise<GrexNode> {
  const node = await startNode({ store: 'memory', jobs: fixtureJobs, http: false, workers: 2, logLevel: 'silent', ...options });
  deferCleanup(t, () => node.stop());
  return node;
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; status?: number; data?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the promise to reject, but it resolved');
}
