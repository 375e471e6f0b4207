/**
 * Cleanups of one benchmark stage (processes, temp folders), run in reverse
 * order by close(). Has the `after` of node:test's TestContext, so the test
 * helpers that start nodes and make temp folders work here too.
 */
export class Scope {
  readonly #cleanups: (() => unknown)[] = [];

  after(fn: () => unknown): void {
    this.#cleanups.push(fn);
  }

  async close(): Promise<void> {
    while (this.#cleanups.length > 0) {
      const fn = this.#cleanups.pop()!;
      try {
        await fn();
      } catch (err) {
        console.error(`cleanup failed: ${(err as Error).message}`);
      }
    }
  }
}
