/**
 * What the HTTP layer needs of a node. GrexNode implements it; keeping it an
 * interface lets the routes be mounted in any fastify app (the plugin) while
 * the node decides where each request is served (here, or on the bucket's
 * active node).
 */
import type { Logger } from '../log.js';
import type { ClusterOverview } from '../cluster/cluster-overview.js';
import type { JobRequest, ItemWrite } from '../scheduler/index.js';
import type { ItemRecord, Version } from '../store/index.js';

export interface RouteInfo {
  bucketKey: string;
  flock: number;
  flocks: number;
  /** URL of the node that runs this bucket's jobs; null when no herder is live. */
  activeNode: string | null;
  /** URLs of the nodes that herd the bucket's flock, in the flock's order. */
  herders: string[];
}

/** One item of a bucket listing. */
export interface ItemListing {
  itemKey: string;
  /** `<term>-<seq>` */
  version: string;
  size: number;
  encoding: 'msgpack' | 'raw';
}

export interface NodeApi {
  readonly nodeId: string;
  readonly url: string;
  isReady(): boolean;
  uptimeSeconds(): number;
  runJob(request: JobRequest): Promise<{ result: string | Uint8Array; activeNode: string }>;
  route(bucketKey: string): RouteInfo;
  readItem(bucketKey: string, itemKey: string, options?: { local?: boolean }): Promise<ItemRecord | undefined>;
  listItems(bucketKey: string): Promise<ItemListing[]>;
  writeItem(write: ItemWrite): Promise<Version>;
  clusterInfo(): Record<string, unknown>;
  describeFlock(flock: number): Promise<Record<string, unknown>>;
  /** Drains this node (hands over every flock), then stops it. */
  leave(): Promise<void>;
  /** Removes a dead member for good. */
  removeMember(nodeId: string): Record<string, unknown>;
  /** Sets a manual farm plan (node id -> farm); refused whole if invalid. */
  setFarmPlan(plan: unknown): Promise<Record<string, unknown>>;
  /** Where 500s are logged (default: not logged). */
  readonly logger?: Logger;
  /** Largest request body of Grex's routes in bytes (default: the app's bodyLimit). */
  readonly bodyLimitBytes?: number;
  /** Called by the grexRoutes plugin once its app listens, with the URL its routes are served at. */
  routesServedAt?(url: string): void;
  /** Members, farm map, in-sync herders and every member's counters (GET /cluster/overview). */
  clusterOverview(): Promise<ClusterOverview>;
  /** This node's metrics in the Prometheus text format (GET /metrics). */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** Fault injection (tests): null when the node was not started with faultInjection. */
  setBlockedPeers?(nodeIds: string[]): string[] | null;
}
