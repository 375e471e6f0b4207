/**
 * How a node derives its flock routes from the member table: the farm map's
 * input from the members' entries, each flock's route (herders, learners,
 * target, active node) from the map and what members announce, the flocks
 * this node must copy, and how many flocks are fresh, settled or moving.
 *
 * Pure: entries and maps in, routes out. farm-view.ts keeps the results
 * for the current member table.
 */
import type { FarmMap, FarmMember } from './farm-map.js';
import { parseFarm } from './farm-map.js';
import type { FlockRoles } from './herding.js';
import type { MemberInfo } from './membership.js';

export interface FlockRoute {
  flock: number;
  /** Nodes herding the flock now (they promise, acknowledge, may lead), target herders first. */
  herders: readonly string[];
  /** Target herders still catching up: sent every write, counted for nothing. */
  learners: readonly string[];
  /** Who should herd the flock (the farm map). */
  target: readonly string[];
  /** The first live herder, or null when none is live. */
  active: string | null;
}

/** What the farm map depends on: who the members are and what they declare (not what they herd). */
export function farmKey(live: readonly MemberInfo[]): string {
  return JSON.stringify(live.map((m) => [m.nodeId, m.herd, m.farm ?? null]));
}

/** The farm map's input: each member's herd flag and manual farm (an invalid one is reported and herds nothing). */
export function farmMembers(live: readonly MemberInfo[], flocks: number, onInvalid: (member: MemberInfo, err: Error) => void): FarmMember[] {
  return live.map((m) => {
    let farm: number[] | undefined;
    if (m.farm === '') {
      farm = []; // a manual plan that gives this node nothing
    } else if (m.farm !== undefined) {
      try {
        farm = parseFarm(m.farm, flocks);
      } catch (err) {
        onInvalid(m, err as Error);
        farm = [];
      }
    }
    return { nodeId: m.nodeId, herd: m.herd, farm };
  });
}

/** A flock's route: its target from the map, its roles, and the first herder that may be active (live, not stopping). */
export function flockRoute(flock: number, farm: FarmMap, roles: FlockRoles | undefined, mayBeActive: (nodeId: string) => boolean): FlockRoute {
  const target = farm.herders[flock] ?? [];
  const r = roles ?? { herders: [], learners: [], fresh: true };
  const active = r.herders.find(mayBeActive) ?? null;
  return { flock, herders: r.herders, learners: r.learners, target, active };
}

/** Flocks `selfId` should herd but does not yet, and which somebody herds (so it must copy them). */
export function flocksToLearn(
  selfId: string,
  joined: boolean,
  farm: FarmMap,
  roles: readonly (FlockRoles | undefined)[],
  herding: ReadonlySet<number>,
): number[] {
  const out: number[] = [];
  // Before joining, this node cannot tell what it must copy: it says every flock it does
  // not herd, so that nobody routes to it a flock it does not hold.
  if (!joined) {
    for (let flock = 0; flock < farm.flocks; flock++) if (!herding.has(flock)) out.push(flock);
    return out;
  }
  farm.herders.forEach((target, flock) => {
    if (target.includes(selfId) && !herding.has(flock) && !(roles[flock]?.fresh ?? true)) out.push(flock);
  });
  return out;
}

/** Members that announce herding a flock. */
export function announcedHerders(flock: number, herdingBy: ReadonlyMap<string, ReadonlySet<number>>): string[] {
  return [...herdingBy].filter(([, flocks]) => flocks.has(flock)).map(([id]) => id);
}

/** Per flock: never claimed, herded by exactly its target herders, or moving (copies on their way or to drop). */
export function flockStates(farm: FarmMap, herdingBy: ReadonlyMap<string, ReadonlySet<number>>): { fresh: number; settled: number; moving: number } {
  let fresh = 0;
  let settled = 0;
  farm.herders.forEach((target, flock) => {
    const holders = announcedHerders(flock, herdingBy);
    if (holders.length === 0) fresh++;
    else if (holders.length === target.length && target.every((id) => holders.includes(id))) settled++;
  });
  return { fresh, settled, moving: farm.flocks - fresh - settled };
}
