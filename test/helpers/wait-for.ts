/** Waiting for conditions instead of sleeping a fixed time. */

export interface WaitOptions {
  /** Give up after this long (generous: the machine may be loaded). */
  timeoutMs?: number;
  intervalMs?: number;
  what?: string;
}

/** Polls `check` until it returns a value other than undefined/false; throws on timeout with `what`. */
export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, options: WaitOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const interval = options.intervalMs ?? 20;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
  throw new Error(`timed out waiting for ${options.what ?? 'a condition'}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}
