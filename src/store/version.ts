/**
 * Item versions: (term, seq), ordered by term first.
 *
 * `term` is the flock leadership term the write was committed under and `seq`
 * the flock's commit sequence, so versions of one flock are totally ordered
 * and a newer leader's writes always sort after a deposed one's. On the wire
 * and in the `Grex-Version` header a version is written `<term>-<seq>`.
 */
export interface Version {
  readonly term: number;
  readonly seq: number;
}

/** Sorts before every committed version; `0-0` on the wire means "absent". */
export const NO_VERSION: Version = Object.freeze({ term: 0, seq: 0 });

/** Largest seq that fits the item header (53 bits, a safe integer). */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;
export const MAX_TERM = 0xffffffff;

export function compareVersions(a: Version, b: Version): number {
  if (a.term !== b.term) return a.term < b.term ? -1 : 1;
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}

export function formatVersion(v: Version): string {
  return `${v.term}-${v.seq}`;
}

const VERSION_PATTERN = /^(\d{1,10})-(\d{1,16})$/;

/** Parses `<term>-<seq>`; returns null for anything else. */
export function parseVersion(text: string): Version | null {
  const match = VERSION_PATTERN.exec(text);
  if (match === null) return null;
  const term = Number(match[1]);
  const seq = Number(match[2]);
  if (term > MAX_TERM || seq > MAX_SEQ) return null;
  return { term, seq };
}
