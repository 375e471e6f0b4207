/**
 * Imports job modules inside a worker thread.
 *
 * TypeScript jobs were compiled in the main thread (job-compiler.ts); the
 * thread's module hook (grex-resolver.ts) loads the compiled JavaScript, so
 * every job is a plain import here.
 */
import { pathToFileURL } from 'node:url';
import type { Job } from '../job.js';

const loaded = new Map<string, Promise<Job>>();
let compileProblems: Record<string, string> = {};

/** Why job modules could not be compiled (their imports then fail with that message). */
export function setCompileProblems(problems: Record<string, string>): void {
  compileProblems = problems;
}

async function importJob(path: string): Promise<Job> {
  const problem = compileProblems[path];
  if (problem !== undefined) throw new Error(`does not compile: ${problem}`);
  const mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  let job = mod.default;
  // A job compiled to CommonJS arrives as { default: { default: fn } }.
  if (typeof job === 'object' && job !== null && 'default' in job) job = (job as { default: unknown }).default;
  if (typeof job !== 'function') {
    throw new Error(`${path} has no default-exported function (got ${job === null ? 'null' : typeof job})`);
  }
  return job as Job;
}

/** The job function of a module, imported once per thread. */
export function loadJob(path: string): Promise<Job> {
  let job = loaded.get(path);
  if (job === undefined) {
    job = importJob(path);
    loaded.set(path, job);
  }
  return job;
}
