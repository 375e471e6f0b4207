/**
 * Module hooks for `module.register` (Node < 22.15), which runs them on a
 * loader thread of their own: the rules of module-fallbacks.ts, asynchronous.
 */
import { compiledSource, fallbackFor, type FallbackData } from './module-fallbacks.js';

interface ResolveResult {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}
interface LoadResult {
  format: string;
  source?: string | ArrayBuffer | Uint8Array | null;
  shortCircuit?: boolean;
}
interface ResolveContext {
  parentURL?: string;
}

let data: FallbackData = { targets: {}, compiled: {} };

export async function initialize(given: FallbackData): Promise<void> {
  data = given;
}

export async function resolve(specifier: string, context: ResolveContext, next: (s: string, c: ResolveContext) => Promise<ResolveResult>): Promise<ResolveResult> {
  try {
    return await next(specifier, context);
  } catch (err) {
    const fallback = fallbackFor(data, specifier, context.parentURL);
    if (fallback === undefined) throw err;
    return { ...fallback, shortCircuit: true };
  }
}

export async function load(url: string, context: object, next: (u: string, c: object) => Promise<LoadResult>): Promise<LoadResult> {
  const source = compiledSource(data, url);
  return source === undefined ? next(url, context) : { format: 'module', source, shortCircuit: true };
}
