/**
 * Lets job modules import Grex (`grex/job`, `grex`) from any folder.
 *
 * A job inside a project that depends on Grex resolves it normally. A jobs
 * folder elsewhere (a global `grex` install, a folder copied to a server)
 * has no node_modules/grex; for those, a failed resolution of these exact
 * specifiers falls back to this Grex installation. Both module systems are
 * covered: tsx loads TypeScript jobs as CommonJS or ESM depending on their
 * package, and each resolves differently.
 */
import Module, { register } from 'node:module';
import { fileURLToPath } from 'node:url';

const TARGETS: Record<string, string> = {
  grex: new URL('../index.js', import.meta.url).href,
  'grex/job': new URL('../job.js', import.meta.url).href,
  'grex/client': new URL('../client/index.js', import.meta.url).href,
};

// Runs on Node's module loader thread: resolve as usual, fall back to TARGETS.
const ESM_HOOKS = `
let targets = {};
export async function initialize(data) { targets = data; }
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (Object.hasOwn(targets, specifier)) return { url: targets[specifier], shortCircuit: true };
    throw err;
  }
}`;

type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;

let installed = false;

export function installGrexResolver(): void {
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
  register(`data:text/javascript,${encodeURIComponent(ESM_HOOKS)}`, { data: TARGETS });
}
