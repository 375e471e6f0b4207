/** The examples in examples/, run the way their READMEs say: `node --import tsx <file>` from the repository root. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { repoRoot } from './paths.js';

export interface ExampleProcess {
  child: ChildProcess;
  /** The JSON log line the process printed when ready. */
  ready: Record<string, unknown>;
  output(): string;
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

function exampleEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GREX_') && !['PORT', 'HOST', 'BLEET', 'PEERS', 'DATA'].includes(k)));
  return { ...env, ...extra };
}

function spawnExample(file: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(repoRoot, file), ...args], { cwd: repoRoot, env: exampleEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Starts a long-running example and resolves once it logs a JSON line whose msg starts with `readyMsg`; killed after the test. */
export async function startExample(
  t: Pick<TestContext, 'after'>,
  file: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; readyMsg: string; timeoutMs?: number },
): Promise<ExampleProcess> {
  const child = spawnExample(file, args, options.env);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = once(child, 'exit');
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const timeoutMs = options.timeoutMs ?? 60_000;
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} was not ready within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const check = () => {
      for (const line of output.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (typeof entry.msg === 'string' && entry.msg.startsWith(options.readyMsg)) {
            clearTimeout(timer);
            child.stdout!.off('data', check);
            resolve(entry);
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
      reject(new Error(`${file} exited with ${code} before it was ready:\n${output}`));
    });
  });
  return {
    child,
    ready,
    output: () => output,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code, sig] = (await exited) as [number | null, NodeJS.Signals | null];
      return code ?? sig ?? -1;
    },
  };
}

/** Runs an example script to completion (killed after `timeoutMs`). */
export async function runExample(file: string, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnExample(file, args);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}
