/**
 * Imports job modules inside a worker thread.
 *
 * TypeScript jobs go through tsx's `tsImport`: on Node 20 a `--import tsx`
 * of the main thread does not reach worker threads, and registering tsx
 * inside the worker does not apply to piscina's imports; `tsImport` does.
 */
import { pathToFileURL } from 'node:url';
import type { Job } from '../job.js';

const TS_EXTENSIONS = /\.(m|c)?ts$/;

const loaded = new Map<string, Promise<Job>>();

async function importJob(path: string): Promise<Job> {
  const url = pathToFileURL(path).href;
  let mod: { default?: unknown };
  if (TS_EXTENSIONS.test(path)) {
    const { tsImport } = await import('tsx/esm/api');
    mod = (await tsImport(url, import.meta.url)) as { default?: unknown };
  } else {
    mod = (await import(url)) as { default?: unknown };
  }
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
