/**
 * Manual farm plans (PUT /cluster/farm): the operator tells each node which
 * flocks it herds, as in the original Grex. Pure validation: a plan is taken
 * whole or refused whole, with a message naming what is wrong.
 */
import { GrexError } from '../errors.js';
import { formatFarm, parseFarm } from './farm-map.js';
import type { MemberInfo } from './membership.js';

/** node id -> its farm ("0-511,700"); nodes left out herd nothing. */
export type FarmPlan = Record<string, string>;

export interface CheckedPlan {
  /** node id -> canonical farm text ('' for a herding member the plan gives nothing). */
  farms: Map<string, string>;
}

function refuse(message: string, data: Record<string, unknown> = {}): never {
  throw new GrexError('GREX_ERR_PLAN_INVALID', message, data);
}

/**
 * Checks a plan against the members: every named node is a member that herds
 * (not removed, not a router with herd false), every farm parses, and every
 * flock gets at least one herder.
 */
export function checkFarmPlan(plan: unknown, members: readonly MemberInfo[], flocks: number): CheckedPlan {
  if (plan === null || typeof plan !== 'object' || Array.isArray(plan)) refuse('a farm plan is an object of node id -> farm, e.g. {"node-a": "0-511", "node-b": "512-1023"}');
  const entries = Object.entries(plan as Record<string, unknown>);
  if (entries.length === 0) refuse('a farm plan names at least one node');
  const known = new Map(members.filter((m) => m.removed !== true).map((m) => [m.nodeId, m]));
  const covered = new Uint8Array(flocks);
  const farms = new Map<string, string>();
  for (const [nodeId, farm] of entries) {
    const member = known.get(nodeId);
    if (member === undefined) refuse(`node ${nodeId} is not a member of this cluster`, { nodeId });
    if (!member.herd) refuse(`node ${nodeId} herds nothing (it was started with herd false, or is leaving)`, { nodeId });
    if (typeof farm !== 'string') refuse(`the farm of ${nodeId} must be a string like "0-511,700"`, { nodeId });
    let parsed: number[];
    try {
      parsed = parseFarm(farm, flocks);
    } catch (err) {
      refuse(`the farm of ${nodeId}: ${(err as Error).message}`, { nodeId });
    }
    for (const flock of parsed) covered[flock] = 1;
    farms.set(nodeId, formatFarm(parsed));
  }
  const orphans: number[] = [];
  covered.forEach((c, flock) => {
    if (c === 0) orphans.push(flock);
  });
  if (orphans.length > 0) {
    refuse(`the plan leaves ${orphans.length} flock(s) without a herder: ${formatFarm(orphans).slice(0, 200)}`, { unassigned: formatFarm(orphans) });
  }
  // Herding members the plan leaves out herd nothing from now on.
  for (const member of known.values()) if (member.herd && !farms.has(member.nodeId)) farms.set(member.nodeId, '');
  return { farms };
}
