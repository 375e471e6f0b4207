/** Picking a Node.js release (scripts/test-on-node.ts). */

/** The newest release of a major version among npm's version strings (pre-releases left out). */
export function newestOfMajor(versions: readonly string[], major: number): string | undefined {
  let best: number[] | undefined;
  for (const version of versions) {
    const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
    if (match === null || Number(match[1]) !== major) continue;
    const parts = [Number(match[1]), Number(match[2]), Number(match[3])];
    if (best === undefined || parts[1]! > best[1]! || (parts[1] === best[1] && parts[2]! > best[2]!)) best = parts;
  }
  return best?.join('.');
}
