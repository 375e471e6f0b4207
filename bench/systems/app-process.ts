/** Starts a competitor app (a script of bench/systems) as its own process and waits for its ready line. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Scope } from '../scope.js';

export interface AppProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** `script`: the app's file name in bench/systems, e.g. 'cache-app.js' (compiled). */
export async function startAppProcess(scope: Scope, script: string, env: NodeJS.ProcessEnv = {}): Promise<AppProcess> {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const child = spawn(process.execPath, [path], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  scope.after(stop);
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`${script} did not start within 30 s:\n${output}`)), 30_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      output += chunk;
      const match = /\{"ready":true,"url":"([^"]+)"\}/.exec(buffered);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before it was ready:\n${output}`));
    });
  });
  return { url, pid: child.pid!, stop };
}
