/** Cleanups for resources a suite's `before` hook creates (test-level `t.after` is not available there). */
import { after } from 'node:test';

/** A context whose `after` callbacks run, newest first, when the current suite ends. Call it in the describe body. */
export function suiteContext(): { after: (fn: () => unknown) => void } {
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  return { after: (fn) => void cleanups.push(fn) };
}
