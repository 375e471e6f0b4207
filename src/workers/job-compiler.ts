/**
 * Compiles TypeScript jobs to JavaScript once, in the main thread, when the
 * job threads start.
 *
 * Job threads then import plain JavaScript: the module loader hook of each
 * thread (grex-resolver.ts) hands Node the compiled text of every `.ts` file
 * of a job's import graph under the file's own URL, so `import.meta.url`,
 * relative imports and package resolution behave as they would for the
 * source. Loading a TypeScript compiler in every thread cost about 15 MB per
 * thread (tsx with esbuild's synchronous service); esbuild here runs once and
 * its service process is stopped afterwards.
 *
 * The graph is what esbuild finds from each job by static imports and
 * `import()` of literal paths; packages (bare specifiers) are not followed.
 * Compiled modules are ES modules. A job whose graph does not compile (a
 * syntax error, a missing file) gets the error as its load problem.
 */
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);

export const isTypeScript = (path: string) => TS_EXTENSIONS.has(extname(path));

export interface CompiledJobs {
  /** file URL of a TypeScript module -> its JavaScript (an ES module) */
  modules: Record<string, string>;
  /** job module path -> why it could not be compiled */
  problems: Record<string, string>;
}

/** Compiles the TypeScript modules reachable from the given job modules (JavaScript jobs are left as they are). */
export async function compileJobs(jobPaths: readonly string[]): Promise<CompiledJobs> {
  const compiled: CompiledJobs = { modules: {}, problems: {} };
  const entries = jobPaths.filter(isTypeScript);
  if (entries.length === 0) return compiled;
  const esbuild = await import('esbuild');
  try {
    const sources = new Set<string>();
    for (const entry of entries) {
      try {
        // Only to find the graph: bundled output is discarded.
        const result = await esbuild.build({
          entryPoints: [entry],
          bundle: true,
          packages: 'external',
          platform: 'node',
          format: 'esm',
          write: false,
          metafile: true,
          logLevel: 'silent',
        });
        for (const input of Object.keys(result.metafile.inputs)) {
          const path = absolute(input);
          if (isTypeScript(path)) sources.add(path);
        }
      } catch (err) {
        compiled.problems[entry] = buildMessage(err);
      }
    }
    for (const path of sources) {
      try {
        const result = await esbuild.build({
          entryPoints: [path],
          bundle: false,
          platform: 'node',
          format: 'esm',
          write: false,
          sourcemap: 'inline',
          logLevel: 'silent',
        });
        compiled.modules[pathToFileURL(path).href] = result.outputFiles[0]!.text;
      } catch (err) {
        // Reported by every job that imports it, when it is imported.
        compiled.modules[pathToFileURL(path).href] = `throw new Error(${JSON.stringify(`${path} does not compile: ${buildMessage(err)}`)});`;
      }
    }
  } finally {
    // The service process is not needed again until the next start.
    await esbuild.stop();
  }
  return compiled;
}

/** esbuild's metafile paths are relative to the working directory. */
const absolute = (input: string) => resolve(process.cwd(), input);

function buildMessage(err: unknown): string {
  const errors = (err as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors;
  if (errors === undefined || errors.length === 0) return (err as Error).message;
  return errors.map((e) => (e.location == null ? e.text : `${e.location.file}:${e.location.line}: ${e.text}`)).join('; ');
}
