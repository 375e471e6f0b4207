/**
 * The parts a running node is made of, and how they are wired together: the
 * scheduler commits through the flock leadership, the cluster hands the
 * bleets it receives to the node, the leadership invalidates, locks and warms
 * buckets through the scheduler. Wired once, when GrexNode is constructed;
 * no part is replaced afterwards. GrexNode and its collaborators in src/node/
 * share the wired parts (NodeCore) and the little that changes while the node
 * runs (NodeState).
 */
import type { FastifyInstance } from 'fastify';
import { ClusterNode, FlockGates, FlockLeadership, type BleetHandler, type MemberInfo, type Transport } from '../cluster/index.js';
import { DEFAULT_LINK_LIMITS } from '../cluster/bleet-link.js';
import type { GrexConfig } from '../config/options.js';
import { GrexError } from '../errors.js';
import { RequestBudget } from '../http/admission.js';
import type { Logger } from '../log.js';
import { CachePoller } from '../metrics/cache-totals.js';
import type { NodeMetrics } from '../metrics/node-metrics.js';
import { Scheduler, type FlockClock } from '../scheduler/index.js';
import type { ItemStore } from '../store/index.js';
import type { TlsMaterial } from '../tls.js';
import type { JobPool } from '../workers/index.js';
import { createNodeMetrics } from './node-status.js';

export const MIB = 1024 * 1024;

/** What GrexNode.start gathers before the node exists (node-startup.ts). */
export interface NodeParts {
  nodeId: string;
  config: GrexConfig;
  logger: Logger;
  store: ItemStore;
  pool: JobPool;
  clock: FlockClock;
  jobs: Record<string, string>;
  transport: Transport | null;
  tls: TlsMaterial | null;
  seedUrls: string[];
  knownMembers: MemberInfo[];
  saveMembers: ((members: MemberInfo[]) => void) | undefined;
  /** Where the items are kept, as the ready line shows it: the data directory, or 'memory'. */
  data: string;
}

/** The wired parts: read by GrexNode and its collaborators, replaced by none. */
export interface NodeCore {
  readonly nodeId: string;
  readonly config: GrexConfig;
  readonly flocks: number;
  readonly logger: Logger;
  readonly store: ItemStore;
  readonly pool: JobPool;
  readonly scheduler: Scheduler;
  readonly cluster: ClusterNode;
  readonly leadership: FlockLeadership;
  /** What the HTTP requests being served hold (admission.ts). */
  readonly budget: RequestBudget;
  readonly cache: CachePoller;
  readonly metrics: NodeMetrics;
}

/** What changes while the node runs; each field names its writers. */
export interface NodeState {
  /** The URL clients and peers reach this node at: set by GrexNode (its listener, routesServedAt). */
  url: string;
  /** Whether the node serves (isReady): set by GrexNode.start, cleared first by stopNode. */
  ready: boolean;
  /** The node's own HTTP listener, if it has one: set by GrexNode's #listen, closed by stopNode or a failed start. */
  http: FastifyInstance | null;
  /** Set once by GrexNode.stop(); from then on new work is refused (ActiveRouter) and a drain ends. */
  stopping: Promise<void> | null;
  /** Set once by GrexNode.leave(); shown by clusterInfo. */
  leaving: Promise<void> | null;
}

/**
 * Builds the scheduler, the cluster node, the flock leadership, the request
 * budget and the metrics from the parts. The callbacks between them reach
 * parts built later, so they are only called once the node runs.
 */
export function wireNode(parts: NodeParts, httpUrl: string, handler: BleetHandler): NodeCore {
  const { config } = parts;
  const scheduler = new Scheduler({
    pool: parts.pool,
    store: parts.store,
    clock: parts.clock,
    flocks: config.flocks,
    jobs: new Set(Object.keys(parts.jobs)),
    jobTimeoutMs: config.jobTimeoutMs,
    maxQueuedJobs: config.maxQueuedJobs,
    maxQueuedPerBucket: config.maxQueuedPerBucket,
    itemLimitBytes: Math.floor(config.itemLimitMb * MIB),
    commit: (flock, _bucketKey, records) => leadership.commit(flock, records, async () => void (await parts.store.commit(flock, records))),
    termOf: (flock) => {
      const term = leadership.termIfLeading(flock);
      if (term === null) throw new GrexError('GREX_ERR_STALE_TERM', `node ${parts.nodeId} no longer leads flock ${flock}`, { flock, retryAfterSeconds: 1, stored: false });
      return term;
    },
  });
  const cluster = new ClusterNode({
    self: {
      nodeId: parts.nodeId,
      httpUrl,
      bleetUrl: '',
      herd: config.herd,
      ...(config.farm === 'auto' ? {} : { farm: config.farm }),
      incarnation: Date.now(),
    },
    flocks: config.flocks,
    replicas: config.replicas,
    writeQuorum: config.writeQuorum,
    transport: parts.transport,
    peers: parts.seedUrls,
    knownMembers: parts.knownMembers,
    heartbeatMs: config.heartbeatMs,
    suspectAfterMs: config.suspectAfterMs,
    deadAfterMs: config.deadAfterMs,
    bleetTimeoutMs: config.bleetTimeoutMs,
    // A bleet (a frame and its attachments) is bounded like one frame.
    limits: { ...DEFAULT_LINK_LIMITS, maxBleetBytes: Math.floor(config.bleetMaxFrameMb * MIB) },
    handler,
    onPeerDisconnected: (nodeId) => leadership.peerDisconnected(nodeId),
    ...(parts.saveMembers === undefined ? {} : { onMembersChanged: parts.saveMembers }),
    logger: parts.logger,
  });
  const leadership: FlockLeadership = new FlockLeadership({
    selfId: parts.nodeId,
    cluster,
    clock: parts.clock,
    store: parts.store,
    gates: new FlockGates(),
    writeQuorum: config.writeQuorum,
    invalidateFlock: (flock) => scheduler.invalidateFlock(flock),
    invalidateBucket: (bucketKey) => scheduler.invalidate(bucketKey),
    inBucket: (bucketKey, work) => scheduler.exclusive(bucketKey, work),
    antiEntropyMs: config.antiEntropyMs,
    antiEntropyMbps: config.antiEntropyMbps,
    transferMbps: config.transferMbps,
    hotBuckets: (flock) => scheduler.hotBuckets(flock),
    warmBuckets: async (buckets) => {
      const warmed = await Promise.allSettled(buckets.map((bucketKey) => scheduler.warm(bucketKey)));
      return warmed.filter((w) => w.status === 'fulfilled').length;
    },
    bleetTimeoutMs: config.bleetTimeoutMs,
    logger: parts.logger,
    onReplicated: (seconds, err) => metrics.replicated(seconds, err),
  });
  const budget = new RequestBudget({
    maxRequests: config.maxHttpRequests,
    maxBodyBytes: Math.floor(config.maxHttpBodyMb * MIB),
    bodyLimitBytes: Math.floor(config.bodyLimitMb * MIB),
  });
  const cache = new CachePoller(() => parts.pool.stats());
  const wired = { nodeId: parts.nodeId, config, flocks: config.flocks, logger: parts.logger, store: parts.store, pool: parts.pool, scheduler, cluster, leadership, budget, cache };
  const metrics = createNodeMetrics(wired, new Set(Object.keys(parts.jobs)));
  parts.store.onLogBatch((seconds, commits) => metrics.logBatch(seconds, commits));
  return { ...wired, metrics };
}
