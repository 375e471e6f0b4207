/**
 * Who herds a flock right now, as opposed to who should (the farm map).
 *
 * The farm map says which nodes *should* herd each flock (its target). A node
 * that gains a flock is first a learner: it is sent the whole flock and every
 * new write, but its word counts for nothing (it tells so in every answer to
 * a claim or a write) until the active node has made it identical and told it
 * so; then it herds the flock (durably, in the flock's metadata). Members
 * announce the flocks they herd and the flocks they learn in their member
 * entries. A node that lost a flock keeps herding it until every target
 * herder herds it, then drops it (one such node at a time): it refuses the
 * flock's bleets from then on and removes its copy. So the herders change one
 * node at a time (one joins, then one leaves), which keeps every majority of
 * the old herders and every majority of the new ones overlapping, as in
 * single-server changes of Raft.
 *
 * A flock nobody announces herding has never been claimed, so no node holds
 * data for it: its target herders start herding it when they claim it or
 * promise it to a claimer.
 *
 * Pure: member entries in, roles out.
 */

/** A set of flocks as base64 of a bitset (1024 flocks: 172 characters). */
export function encodeFlockSet(flocks: Iterable<number>, total: number): string {
  const bytes = new Uint8Array(Math.ceil(total / 8));
  for (const flock of flocks) {
    if (Number.isInteger(flock) && flock >= 0 && flock < total) bytes[flock >> 3]! |= 1 << (flock & 7);
  }
  return Buffer.from(bytes).toString('base64');
}

/** The flocks of an encoded set; out-of-range bits and malformed text give no flocks. */
export function decodeFlockSet(text: string | undefined, total: number): Set<number> {
  const out = new Set<number>();
  if (text === undefined || text === '') return out;
  const bytes = Buffer.from(text, 'base64');
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte === 0) continue;
    for (let bit = 0; bit < 8; bit++) {
      const flock = i * 8 + bit;
      if ((byte & (1 << bit)) !== 0 && flock < total) out.add(flock);
    }
  }
  return out;
}

export interface FlockRoles {
  /** Nodes that herd the flock (as far as routing goes): target herders first, in target order. */
  herders: string[];
  /** Target herders that say they are still copying the flock: never routed to. */
  learners: string[];
  /** True when nobody announces herding the flock (never claimed). */
  fresh: boolean;
}

/**
 * The roles of one flock, from its target herders (farm map order) and what
 * members announce: the flocks they herd and the flocks they are learning.
 * Only routing uses these views; whose word counts is told by the answers
 * to claims and writes (claim-round.ts), so a view that lags is never unsafe.
 */
export function flockRoles(
  flock: number,
  target: readonly string[],
  herdingBy: ReadonlyMap<string, ReadonlySet<number>>,
  learningBy: ReadonlyMap<string, ReadonlySet<number>> = new Map(),
): FlockRoles {
  const learning = (nodeId: string) => learningBy.get(nodeId)?.has(flock) === true;
  let fresh = true;
  const others: string[] = [];
  for (const [nodeId, flocks] of herdingBy) {
    if (!flocks.has(flock)) continue;
    fresh = false;
    if (!target.includes(nodeId)) others.push(nodeId);
  }
  others.sort();
  return {
    herders: [...target.filter((id) => !learning(id)), ...others],
    learners: target.filter(learning),
    fresh,
  };
}

/**
 * Whether `nodeId` may drop a flock it herds: it is not a target herder,
 * every target herder herds the flock (so the flock keeps its copies), and it
 * is the first of the non-target herders (they leave one at a time).
 */
export function mayDrop(flock: number, nodeId: string, target: readonly string[], herdingBy: ReadonlyMap<string, ReadonlySet<number>>): boolean {
  if (target.includes(nodeId)) return false;
  if (herdingBy.get(nodeId)?.has(flock) !== true) return false;
  if (target.length === 0 || !target.every((id) => herdingBy.get(id)?.has(flock) === true)) return false;
  const leaving = [...herdingBy].filter(([id, flocks]) => flocks.has(flock) && !target.includes(id)).map(([id]) => id).sort();
  return leaving[0] === nodeId;
}
