/**
 * Finds the job modules of a jobs folder (main thread, at start).
 *
 * A job is a file `<name>.ts|.mts|.js|.mjs` whose name matches
 * [a-z0-9][a-z0-9_-]*. Files starting with "_" or "." are helpers, not jobs,
 * and so are declaration and test files; sub-folders are not searched. A
 * file that looks like a job but is badly named, or two files with the same
 * job name, stop the start: a silently missing job is worse.
 */
import { readdir } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { GrexError } from '../errors.js';
import { isJobName, JOB_NAME_PATTERN } from '../keys.js';

const JOB_EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs']);

function isHelperFile(name: string): boolean {
  return name.startsWith('_') || name.startsWith('.') || /\.d\.m?ts$/.test(name) || /\.(test|spec)\.[mc]?[jt]s$/.test(name);
}

/** job name -> absolute path of its module. */
export async function discoverJobs(dir: string): Promise<Record<string, string>> {
  const root = resolve(dir);
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (err) {
    throw new GrexError('GREX_ERR_JOB_LOAD', `cannot read jobs folder ${root}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  const jobs: Record<string, string> = {};
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!entry.isFile() || isHelperFile(entry.name)) continue;
    const ext = extname(entry.name);
    if (!JOB_EXTENSIONS.has(ext)) continue;
    const name = entry.name.slice(0, -ext.length);
    if (!isJobName(name)) {
      throw new GrexError(
        'GREX_ERR_JOB_LOAD',
        `${join(root, entry.name)}: job names must match ${JOB_NAME_PATTERN.source} (prefix helper modules with "_")`,
      );
    }
    if (jobs[name] !== undefined) {
      throw new GrexError('GREX_ERR_JOB_LOAD', `two modules for job ${name}: ${jobs[name]} and ${join(root, entry.name)}`);
    }
    jobs[name] = join(root, entry.name);
  }
  return jobs;
}
