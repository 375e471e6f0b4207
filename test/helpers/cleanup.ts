/**
 * Cleanups that run newest first when a test (or suite) ends: a node started
 * after its data folder was made is stopped before the folder is removed.
 * (node:test runs `t.after` callbacks oldest first.)
 */
import type { TestContext } from 'node:test';

type Context = Pick<TestContext, 'after'>;

const stacks = new WeakMap<Context, (() => unknown)[]>();

export function deferCleanup(t: Context, cleanup: () => unknown): void {
  let stack = stacks.get(t);
  if (stack === undefined) {
    const cleanups: (() => unknown)[] = [];
    stack = cleanups;
    stacks.set(t, cleanups);
    t.after(async () => {
      let first: unknown;
      for (const fn of cleanups.reverse()) {
        try {
          await fn();
        } catch (err) {
          first ??= err;
        }
      }
      if (first !== undefined) throw first;
    });
  }
  stack.push(cleanup);
}
