/** Seeded randomness for tests: the same "random" values on every run. */
import { seededRandom } from '../../src/cluster/seeded-random.js';

export const prng = seededRandom;

/** The items in a seeded random order (Fisher–Yates). */
export function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** All subsets of `ids` with at least `min` members. */
export function subsets(ids: readonly string[], min: number): string[][] {
  const out: string[][] = [];
  for (let mask = 1; mask < 1 << ids.length; mask++) {
    const set = ids.filter((_, i) => (mask & (1 << i)) !== 0);
    if (set.length >= min) out.push(set);
  }
  return out;
}

/** Ranges of code points by UTF-8 length (1 to 4 bytes), surrogates left out. */
export const CODE_POINT_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x01, 0x7f],
  [0x80, 0x7ff],
  [0x800, 0xd7ff],
  [0xe000, 0xffff],
  [0x10000, 0x10ffff],
];
