/** Grex nodes as real processes, the way users run them (`grex start`). */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { deferCleanup } from './cleanup.js';
import { cliPath } from './paths.js';

export interface NodeProcess {
  child: ChildProcess;
  url: string;
  /** ws:// (wss:// with TLS) URL of its bleet listener ('' without one). */
  bleetUrl: string;
  /** `host:port` of its bleet listener, as --peers takes it. */
  bleetAddress: string;
  /** Everything the process printed so far. */
  output(): string;
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Runs `grex start <args>` and resolves once it logs its URL; killed after the test if still running.
 * `command` runs another `grex` executable (an installed package's bin) instead of this repository's CLI;
 * `nodeArgs` are flags for node itself (with this repository's CLI, or the CLI script `cli`: another build's
 * dist/src/cli/main.js, for benchmarks comparing builds).
 */
export async function startNodeProcess(
  t: Pick<TestContext, 'after'>,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; command?: string; nodeArgs?: string[]; cli?: string } = {},
): Promise<NodeProcess> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GREX_')));
  const [command, commandArgs] = options.command === undefined ? [process.execPath, [...(options.nodeArgs ?? []), options.cli ?? cliPath]] : [options.command, []];
  const child = spawn(command, [...commandArgs, 'start', ...args], {
    cwd: options.cwd,
    env: { ...env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = once(child, 'exit');
  deferCleanup(t, async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const ready = await new Promise<{ url: string; bleetUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start within ${options.timeoutMs ?? 60_000} ms:\n${output}`)), options.timeoutMs ?? 60_000);
    const check = () => {
      for (const line of output.split('\n')) {
        if (!line.includes('"url"')) continue;
        try {
          const entry = JSON.parse(line) as { url?: string; bleetUrl?: string; msg?: string };
          if (entry.url !== undefined && entry.msg?.includes('ready')) {
            clearTimeout(timer);
            child.stdout!.off('data', check);
            resolve({ url: entry.url, bleetUrl: entry.bleetUrl ?? '' });
            return;
          }
        } catch {
          // a partial line; wait for more
        }
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code} before it was ready:\n${output}`));
    });
  });
  return {
    child,
    url: ready.url,
    bleetUrl: ready.bleetUrl,
    bleetAddress: ready.bleetUrl.replace(/^wss?:\/\//, ''),
    output: () => output,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code, sig] = (await exited) as [number | null, NodeJS.Signals | null];
      return code ?? sig ?? -1;
    },
  };
}

/** Runs a grex command to completion (with no GREX_* variables of this process, plus `env`). */
export async function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GREX_'))), ...options.env };
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}
