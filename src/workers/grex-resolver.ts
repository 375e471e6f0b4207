/**
 * Lets job modules import Grex (`grex/job`, `grex`) from any folder, and
 * serves TypeScript modules as the JavaScript compiled for them in the main
 * thread (job-compiler.ts).
 *
 * A job inside a project that depends on Grex resolves it normally. A jobs
 * folder elsewhere (a global `grex` install, a folder copied to a server)
 * has no node_modules/grex; for those, a failed resolution of these exact
 * specifiers falls back to this Grex installation. Both module systems are
 * covered (JavaScript jobs may be CommonJS; compiled TypeScript is ESM).
 *
 * A TypeScript module keeps its own URL: its compiled text is loaded in
 * place of the source. Imports written the TypeScript way (`./helper.js` for
 * helper.ts, or without an extension) that Node does not resolve fall back
 * to the compiled module they name.
 */
import Module, { register } from 'node:module';
import { fileURLToPath } from 'node:url';

const TARGETS: Record<string, string> = {
  grex: new URL('../index.js', import.meta.url).href,
  'grex/job': new URL('../job.js', import.meta.url).href,
  'grex/client': new URL('../client/index.js', import.meta.url).href,
};

// Runs on Node's module loader thread: resolve as usual, fall back to TARGETS or a compiled
// module; load compiled modules from memory.
const ESM_HOOKS = `
let targets = {};
let compiled = {};
export async function initialize(data) { targets = data.targets; compiled = data.compiled; }
function compiledFor(specifier, parentURL) {
  if (parentURL === undefined || !/^\\.\\.?\\//.test(specifier)) return undefined;
  const candidates = [specifier.replace(/\\.(m|c)?js$/, '.$1ts'), specifier + '.ts', specifier + '.mts', specifier + '/index.ts'];
  for (const candidate of candidates) {
    const url = new URL(candidate, parentURL).href;
    if (Object.hasOwn(compiled, url)) return url;
  }
  return undefined;
}
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (Object.hasOwn(targets, specifier)) return { url: targets[specifier], shortCircuit: true };
    const url = compiledFor(specifier, context.parentURL);
    if (url !== undefined) return { url, format: 'module', shortCircuit: true };
    throw err;
  }
}
export async function load(url, context, next) {
  if (Object.hasOwn(compiled, url)) return { format: 'module', source: compiled[url], shortCircuit: true };
  return next(url, context);
}`;

type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;

let installed = false;

/** `compiled`: file URL of a TypeScript module -> its JavaScript. */
export function installGrexResolver(compiled: Record<string, string> = {}): void {
  if (installed) return;
  installed = true;
  const cjs = Module as unknown as { _resolveFilename: ResolveFilename };
  const original = cjs._resolveFilename;
  cjs._resolveFilename = function resolveWithGrex(this: unknown, request, parent, isMain, options) {
    try {
      return original.call(this, request, parent, isMain, options);
    } catch (err) {
      const target = TARGETS[request];
      if (target !== undefined) return fileURLToPath(target);
      throw err;
    }
  };
  register(`data:text/javascript,${encodeURIComponent(ESM_HOOKS)}`, { data: { targets: TARGETS, compiled } });
}
