/**
 * The cluster at a glance (GET /cluster/overview, drawn by the dashboard):
 * members with their states and counters, and per flock its active node,
 * how many herders are in sync with it, and whether that is fewer than it
 * should have (under-replicated).
 *
 * Membership and the farm map are the answering node's view. In-sync counts
 * are known only to each flock's active node, so they come from every
 * member's `stats` bleet; a flock whose active node does not lead it yet
 * (no job touched it since it became active) or did not answer counts its
 * live herders instead. Pure: the node gathers the inputs.
 */
import type { NodeStatsBleet } from './bleet-messages.js';
import type { MemberState } from './membership.js';

export interface OverviewMemberInput {
  nodeId: string;
  httpUrl: string;
  herd: boolean;
  state: MemberState;
  connected: boolean;
}

export interface OverviewInput {
  selfId: string;
  flocks: number;
  replicas: number;
  mode: 'auto' | 'manual';
  mapVersion: number;
  now: number;
  members: readonly OverviewMemberInput[];
  route: (flock: number) => { herders: readonly string[]; active: string | null };
  isLive: (nodeId: string) => boolean;
  /** Counters of each member that answered (absent: it did not). */
  stats: ReadonlyMap<string, NodeStatsBleet>;
}

export interface OverviewMember extends OverviewMemberInput {
  flocksHerded: number;
  /** Flocks it is the active node of, in the answering node's view. */
  flocksActive: number;
  /** Its counters; null when it did not answer. */
  stats: Omit<NodeStatsBleet, 'led'> | null;
}

export interface ClusterOverview {
  /** The node that answered, and when (ms since the epoch). */
  nodeId: string;
  at: number;
  flocks: number;
  replicas: number;
  mapVersion: number;
  members: OverviewMember[];
  /** Per flock: index in `members` of its active node, or -1 when no herder is live. */
  active: number[];
  /** Per flock: its herders. */
  herders: number[];
  /** Per flock: herders in sync with the active node, itself included. */
  inSync: number[];
  /** Per flock: 1 when the count above is the active node's own (it leads the flock at a term), else 0. */
  led: number[];
  /** Per flock: 1 when it has fewer in-sync herders than it should (replicas, or its herders in a manual farm). */
  underReplicated: number[];
  underReplicatedCount: number;
}

export function buildOverview(input: OverviewInput): ClusterOverview {
  const index = new Map(input.members.map((m, i) => [m.nodeId, i]));
  const ledBy = new Map<string, Map<number, number>>();
  for (const [nodeId, stats] of input.stats) ledBy.set(nodeId, new Map(stats.led));
  const herded = new Array<number>(input.members.length).fill(0);
  const activeCount = new Array<number>(input.members.length).fill(0);
  const overview: ClusterOverview = {
    nodeId: input.selfId,
    at: input.now,
    flocks: input.flocks,
    replicas: input.replicas,
    mapVersion: input.mapVersion,
    members: [],
    active: [],
    herders: [],
    inSync: [],
    led: [],
    underReplicated: [],
    underReplicatedCount: 0,
  };
  for (let flock = 0; flock < input.flocks; flock++) {
    const { herders, active } = input.route(flock);
    for (const id of herders) {
      const i = index.get(id);
      if (i !== undefined) herded[i]!++;
    }
    const activeIndex = active === null ? -1 : (index.get(active) ?? -1);
    if (activeIndex >= 0) activeCount[activeIndex]!++;
    const reported = active === null ? undefined : ledBy.get(active)?.get(flock);
    const inSync = reported ?? herders.filter((id) => input.isLive(id)).length;
    const wanted = input.mode === 'auto' ? input.replicas : herders.length;
    const under = inSync < wanted ? 1 : 0;
    overview.active.push(activeIndex);
    overview.herders.push(herders.length);
    overview.inSync.push(inSync);
    overview.led.push(reported === undefined ? 0 : 1);
    overview.underReplicated.push(under);
    overview.underReplicatedCount += under;
  }
  overview.members = input.members.map((m, i) => {
    const stats = input.stats.get(m.nodeId);
    return {
      ...m,
      flocksHerded: herded[i]!,
      flocksActive: activeCount[i]!,
      stats: stats === undefined ? null : { jobsOk: stats.jobsOk, jobsFailed: stats.jobsFailed, cacheHits: stats.cacheHits, cacheMisses: stats.cacheMisses, queued: stats.queued },
    };
  });
  return overview;
}
