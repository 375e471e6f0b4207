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
import { compiledSource, fallbackFor, type FallbackData } from './module-fallbacks.js';

const TARGETS: Record<string, string> = {
  grex: new URL('../index.js', import.meta.url).href,
  'grex/job': new URL('../job.js', import.meta.url).href,
  'grex/client': new URL('../client/index.js', import.meta.url).href,
};

type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;

interface SyncResolved {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}
interface SyncLoaded {
  format?: string | null;
  source?: string | ArrayBuffer | Uint8Array | null;
  shortCircuit?: boolean;
}
/** `module.registerHooks` (Node ≥ 22.15; not in Node 20's types). */
type RegisterHooks = (hooks: {
  resolve(specifier: string, context: { parentURL?: string }, next: (s: string, c: { parentURL?: string }) => SyncResolved): SyncResolved;
  load(url: string, context: object, next: (u: string, c: object) => SyncLoaded): SyncLoaded;
}) => unknown;

let installed = false;

/**
 * How the ES module hooks run: in the calling thread where Node has
 * `module.registerHooks`, else on a loader thread that `module.register`
 * starts — a V8 isolate of its own, 6–11 MB of a node's resident memory.
 */
export function moduleHooksKind(): 'in-thread' | 'loader-thread' {
  return typeof (Module as unknown as { registerHooks?: unknown }).registerHooks === 'function' ? 'in-thread' : 'loader-thread';
}

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
  const data: FallbackData = { targets: TARGETS, compiled };
  if (moduleHooksKind() === 'loader-thread') {
    register(new URL('./loader-hooks.js', import.meta.url), { data });
    return;
  }
  (Module as unknown as { registerHooks: RegisterHooks }).registerHooks({
    resolve(specifier, context, next) {
      try {
        return next(specifier, context);
      } catch (err) {
        const fallback = fallbackFor(data, specifier, context.parentURL);
        if (fallback === undefined) throw err;
        return { ...fallback, shortCircuit: true };
      }
    },
    load(url, context, next) {
      const source = compiledSource(data, url);
      return source === undefined ? next(url, context) : { format: 'module', source, shortCircuit: true };
    },
  });
}
