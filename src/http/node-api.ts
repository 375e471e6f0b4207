/**
 * What the HTTP layer needs of a node. GrexNode implements it; keeping it an
 * interface lets the routes be mounted in any fastify app (the plugin) and
 * lets a cluster node route or forward behind the same calls.
 */
import type { JobRequest, ItemWrite } from '../scheduler/index.js';
import type { ItemHeader, ItemRecord, Version } from '../store/index.js';

export interface RouteInfo {
  bucketKey: string;
  flock: number;
  flocks: number;
  /** URL of the node that runs this bucket's jobs. */
  activeNode: string;
  /** URLs of the nodes that herd the bucket's flock, active node first. */
  herders: string[];
}

export interface NodeApi {
  readonly nodeId: string;
  readonly url: string;
  isReady(): boolean;
  uptimeSeconds(): number;
  runJob(request: JobRequest): Promise<{ result: string | Uint8Array; activeNode: string }>;
  route(bucketKey: string): RouteInfo;
  readItem(bucketKey: string, itemKey: string): Promise<ItemRecord | undefined>;
  listItems(bucketKey: string): Promise<ItemHeader[]>;
  writeItem(write: ItemWrite): Promise<Version>;
}
