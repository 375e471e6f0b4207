/**
 * Where a job module's imports go when Node's own resolution fails: the
 * rules of grex-resolver.ts, shared by its two ways of hooking the module
 * loader (in the job thread on Node ≥ 22.15, on a loader thread before).
 * Pure: specifiers and URLs in, URLs and source text out.
 */

export interface FallbackData {
  /** `grex`, `grex/job`, `grex/client` -> this installation's modules. */
  targets: Record<string, string>;
  /** File URL of a TypeScript module -> the JavaScript compiled for it. */
  compiled: Record<string, string>;
}

export interface Fallback {
  url: string;
  format?: 'module';
}

/** A compiled module that a relative import written the TypeScript way (`./x.js`, `./x`) names. */
function compiledFor(compiled: Record<string, string>, specifier: string, parentURL: string | undefined): string | undefined {
  if (parentURL === undefined || !/^\.\.?\//.test(specifier)) return undefined;
  const candidates = [specifier.replace(/\.(m|c)?js$/, '.$1ts'), `${specifier}.ts`, `${specifier}.mts`, `${specifier}/index.ts`];
  for (const candidate of candidates) {
    const url = new URL(candidate, parentURL).href;
    if (Object.hasOwn(compiled, url)) return url;
  }
  return undefined;
}

/** Where an import that Node could not resolve goes instead; undefined: nowhere (its error stands). */
export function fallbackFor(data: FallbackData, specifier: string, parentURL: string | undefined): Fallback | undefined {
  if (Object.hasOwn(data.targets, specifier)) return { url: data.targets[specifier]! };
  const url = compiledFor(data.compiled, specifier, parentURL);
  return url === undefined ? undefined : { url, format: 'module' };
}

/** The JavaScript to load for a URL in place of its file (a TypeScript module), if any. */
export function compiledSource(data: FallbackData, url: string): string | undefined {
  return Object.hasOwn(data.compiled, url) ? data.compiled[url] : undefined;
}
