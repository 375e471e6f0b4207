/**
 * What a node reports about itself and its cluster: what its Prometheus
 * metrics read when scraped, its counters for the cluster overview (the
 * `stats` bleet), the overview assembled from every member's counters, and
 * clusterInfo (GET /cluster). Reads only; nothing here changes the node.
 */
import { formatFarm, type NodeStatsBleet } from '../cluster/index.js';
import { buildOverview, type ClusterOverview } from '../cluster/cluster-overview.js';
import { NodeMetrics } from '../metrics/node-metrics.js';
import type { NodeCore, NodeState } from './node-core.js';

/** How long the overview waits for a member's counters before showing it without them. */
const OVERVIEW_TIMEOUT_MS = 1000;

/** The node's metrics, reading its state from the wired parts when scraped. */
export function createNodeMetrics(core: Omit<NodeCore, 'metrics'>, jobNames: ReadonlySet<string>): NodeMetrics {
  return new NodeMetrics(jobNames, {
    queue: () => ({ jobs: core.scheduler.queued, buckets: core.scheduler.queuedBuckets }),
    cache: () => core.cache.totals(),
    flocks: () => {
      let herded = 0;
      let active = 0;
      for (let flock = 0; flock < core.flocks; flock++) {
        const route = core.cluster.route(flock);
        if (route.target.includes(core.nodeId)) herded++;
        if (route.active === core.nodeId) active++;
      }
      return { herded, holding: core.leadership.herdingCount, active, led: core.leadership.ledFlocks().length };
    },
    store: () => ({ ...core.store.usage(), pendingBytes: core.store.pendingBytes }),
    connections: () => core.cluster.connectionCounts(),
    members: () => {
      const counts = { alive: 0, suspect: 0, dead: 0 };
      for (const m of core.cluster.members()) counts[core.cluster.stateOf(m.nodeId)]++;
      return counts;
    },
    cluster: () => core.cluster.counters,
    http: () => ({ requests: core.budget.requests, bodyBytes: core.budget.bodyBytes }),
  });
}

/** This node's counters for the cluster overview (the `stats` bleet). */
export async function nodeStats(core: NodeCore): Promise<NodeStatsBleet> {
  const cache = await core.cache.totals();
  return {
    jobsOk: core.metrics.jobsOk,
    jobsFailed: core.metrics.jobsFailed,
    cacheHits: cache.hits,
    cacheMisses: cache.misses,
    queued: core.scheduler.queued,
    led: core.leadership.ledFlocks().map((flock) => {
      const herders = core.cluster.route(flock).herders;
      return [flock, 1 + core.leadership.syncedHerders(flock).filter((id) => herders.includes(id)).length];
    }),
  };
}

/** The cluster at a glance: this node's view, with every reachable member's counters (GET /cluster/overview). */
export async function clusterOverview(core: NodeCore): Promise<ClusterOverview> {
  const members = core.cluster.members();
  const stats = new Map<string, NodeStatsBleet>();
  await Promise.all(
    members.map(async (m) => {
      const answer =
        m.nodeId === core.nodeId
          ? await nodeStats(core)
          : await core.cluster.request(m.nodeId, 'stats', {}, OVERVIEW_TIMEOUT_MS).catch(() => null);
      if (answer !== null) stats.set(m.nodeId, answer);
    }),
  );
  return buildOverview({
    selfId: core.nodeId,
    flocks: core.flocks,
    replicas: core.cluster.replicas,
    mode: core.cluster.farm.mode,
    mapVersion: core.cluster.mapVersion,
    now: Date.now(),
    members: members.map((m) => ({
      nodeId: m.nodeId,
      httpUrl: m.httpUrl,
      herd: m.herd,
      state: core.cluster.stateOf(m.nodeId),
      connected: m.nodeId === core.nodeId || core.cluster.linkTo(m.nodeId) !== undefined,
    })),
    route: (flock) => core.cluster.route(flock),
    isLive: (nodeId) => core.cluster.isLive(nodeId),
    stats,
  });
}

/** This node's view of the cluster (GET /cluster): members, farm map, the flocks it leads and herds, transfers, counters. */
export function clusterInfo(core: NodeCore, state: NodeState): Record<string, unknown> {
  const snapshot = core.cluster.snapshot();
  return {
    url: state.url,
    ...snapshot,
    flocksLeading: core.leadership.ledFlocks().length,
    flocksHerding: core.leadership.herdingCount,
    herdingFlocks: formatFarm(core.leadership.herdingList()),
    leaving: state.leaving !== null,
    transfers: [...core.leadership.transfers.values()],
    counters: { ...(snapshot.counters as object), ...core.leadership.counters },
  };
}
