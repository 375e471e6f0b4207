// Runs a writer process (a test fixture printing `ack <round>` per acknowledged
// commit) on a data folder until it has acknowledged `target` rounds, then
// SIGKILLs it: what crash tests replay.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { waitFor } from './wait-for.js';

/** The rounds the writer acknowledged before it was killed. */
export async function runWriterUntilKilled(t: TestContext, writer: string, dir: string, target: number): Promise<number[]> {
  const child = spawn(process.execPath, [writer, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => void child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const acks = () => [...out.matchAll(/^ack (\d+)$/gm)].map((m) => Number(m[1]));
  await waitFor(() => acks().length >= target || child.exitCode !== null, { what: `${target} acks`, timeoutMs: 60_000 });
  assert.equal(child.exitCode, null, `writer died: ${err}`);
  child.kill('SIGKILL');
  await once(child, 'exit');
  return acks();
}
