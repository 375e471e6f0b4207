/**
 * The farm map: flock -> its herders, in order (the first live one is the
 * flock's active node). Pure: computed from the member table, so every node
 * that holds the same members holds the same map.
 *
 * - auto (default): each flock gets `replicas` herders, the herding members
 *   with the highest rendezvous score for (flock, nodeId). Adding a member
 *   only moves the flocks where the newcomer scores in the top `replicas`:
 *   about replicas/N of the assignments.
 * - manual: members declare the flocks they herd (`farm: "0-511,700"`), as in
 *   the original Grex; a flock's herders are the members that declare it,
 *   ordered by the same score. If any member declares a farm, the map is
 *   manual and members without one herd nothing.
 */
import { fnv1a32 } from '../keys.js';

export interface FarmMember {
  nodeId: string;
  /** False for nodes that route and submit but store nothing. */
  herd: boolean;
  /** Flocks this member herds, in manual mode (sorted, distinct). */
  farm?: readonly number[] | undefined;
}

export type FarmMode = 'auto' | 'manual';

export interface FarmMap {
  mode: FarmMode;
  flocks: number;
  /** herders[flock] = node ids, in the flock's order. */
  herders: readonly (readonly string[])[];
}

/** murmur3's 32-bit finaliser: spreads every input bit over the output. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Rendezvous (highest random weight) score of a node for a flock. */
export function rendezvousScore(nodeHash: number, flock: number): number {
  return mix32(nodeHash ^ mix32(Math.imul(flock + 1, 0x9e3779b1)));
}

function orderFor(flock: number, candidates: readonly { nodeId: string; hash: number }[]): string[] {
  return candidates
    .map((c) => ({ nodeId: c.nodeId, score: rendezvousScore(c.hash, flock) }))
    .sort((a, b) => b.score - a.score || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))
    .map((c) => c.nodeId);
}

export function computeFarmMap(members: readonly FarmMember[], options: { flocks: number; replicas: number }): FarmMap {
  const herding = members.filter((m) => m.herd);
  const mode: FarmMode = herding.some((m) => m.farm !== undefined) ? 'manual' : 'auto';
  const hashed = herding.map((m) => ({ nodeId: m.nodeId, hash: fnv1a32(m.nodeId), farm: m.farm === undefined ? null : new Set(m.farm) }));
  const herders: string[][] = [];
  for (let flock = 0; flock < options.flocks; flock++) {
    if (mode === 'auto') {
      herders.push(orderFor(flock, hashed).slice(0, Math.max(0, options.replicas)));
    } else {
      herders.push(orderFor(flock, hashed.filter((m) => m.farm?.has(flock) === true)));
    }
  }
  return { mode, flocks: options.flocks, herders };
}

/** Flocks each node herds, and flocks with no herder at all. */
export function farmSummary(map: FarmMap): { byNode: Map<string, number[]>; unassigned: number[] } {
  const byNode = new Map<string, number[]>();
  const unassigned: number[] = [];
  map.herders.forEach((herders, flock) => {
    if (herders.length === 0) unassigned.push(flock);
    for (const nodeId of herders) {
      let flocks = byNode.get(nodeId);
      if (flocks === undefined) byNode.set(nodeId, (flocks = []));
      flocks.push(flock);
    }
  });
  return { byNode, unassigned };
}

/**
 * Parses a manual farm: comma-separated flocks and inclusive ranges, e.g.
 * "0-511,700". Returns the sorted distinct flocks, or throws a message naming
 * the bad part.
 */
export function parseFarm(text: string, flocks: number): number[] {
  const out = new Set<number>();
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.every((p) => p === '')) throw new Error('a farm lists at least one flock, e.g. "0-511,700"');
  for (const part of parts) {
    const match = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (match === null) throw new Error(`"${part}" is not a flock or a range like 0-511`);
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (to < from) throw new Error(`range "${part}" runs backwards`);
    if (to >= flocks) throw new Error(`flock ${to} is out of range (there are ${flocks} flocks: 0-${flocks - 1})`);
    for (let flock = from; flock <= to; flock++) out.add(flock);
  }
  return [...out].sort((a, b) => a - b);
}

/** The compact text form of a set of flocks ("0-511,700"). */
export function formatFarm(flocks: readonly number[]): string {
  const sorted = [...new Set(flocks)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i]!;
    while (i + 1 < sorted.length && sorted[i + 1] === sorted[i]! + 1) i++;
    parts.push(start === sorted[i] ? String(start) : `${start}-${sorted[i]}`);
  }
  return parts.join(',');
}
