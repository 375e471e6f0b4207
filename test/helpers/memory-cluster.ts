/** Many Grex nodes in the test process, joined over an in-memory network. */
import type { TestContext } from 'node:test';
import { MemoryNetwork, MemoryTransport } from '../../src/cluster/index.js';
import { startNode, type GrexNode, type StartNodeOptions } from '../../src/grex-node.js';
import { flockOf } from '../../src/keys.js';
import { fixtureJobs } from './paths.js';
import { waitFor } from './wait-for.js';
import { deferCleanup } from './cleanup.js';

export interface MemoryCluster {
  network: MemoryNetwork;
  nodes: GrexNode[];
  /** The transport URL of each node (for partitions). */
  urls: string[];
  /** Adds a node that joins through the first one. */
  add(options?: StartNodeOptions): Promise<GrexNode>;
}

/** Fast failure detection so tests that wait for it stay short. */
export const FAST_CLUSTER: StartNodeOptions = { heartbeatMs: 25, suspectAfterMs: 300, deadAfterMs: 1000, bleetTimeoutMs: 5000 };

export async function startMemoryCluster(
  t: Pick<TestContext, 'after'>,
  count: number,
  options: StartNodeOptions = {},
  perNode: (index: number) => StartNodeOptions | Promise<StartNodeOptions> = () => ({}),
): Promise<MemoryCluster> {
  const network = new MemoryNetwork();
  const cluster: MemoryCluster = {
    network,
    nodes: [],
    urls: [],
    add: async (extra: StartNodeOptions = {}) => {
      const transport = new MemoryTransport(network);
      const node = await startNode({
        store: 'memory',
        jobs: fixtureJobs,
        http: false,
        workers: 1,
        logLevel: 'silent',
        ...FAST_CLUSTER,
        ...options,
        ...extra,
        transport,
        seedUrls: cluster.urls.length === 0 ? [] : [cluster.urls[0]!],
      });
      deferCleanup(t, () => node.stop());
      cluster.nodes.push(node);
      cluster.urls.push(transport.url);
      return node;
    },
  };
  for (let i = 0; i < count; i++) await cluster.add(await perNode(i));
  await settled(cluster.nodes);
  return cluster;
}

/** Waits until every node knows every node, sees it alive, holds the same farm map, and nobody is still copying a flock. */
export async function settled(nodes: readonly GrexNode[], what = 'the cluster to settle'): Promise<void> {
  await waitFor(
    () =>
      nodes.every((node) => {
        const members = node.cluster.members();
        return (
          node.cluster.joined &&
          members.length === nodes.length &&
          members.every((m) => node.cluster.stateOf(m.nodeId) === 'alive' && node.cluster.linkTo(m.nodeId) !== undefined || m.nodeId === node.nodeId) &&
          node.cluster.mapVersion === nodes[0]!.cluster.mapVersion &&
          members.every((m) => m.learning === undefined) &&
          JSON.stringify(node.cluster.farm.herders) === JSON.stringify(nodes[0]!.cluster.farm.herders)
        );
      }),
    { what, timeoutMs: 30_000 },
  );
}

/** A bucket key whose flock's herders (in order) start with these node ids. */
export function bucketLedBy(node: GrexNode, ...order: string[]): string {
  for (let i = 0; i < 100_000; i++) {
    const key = `bucket-${i}`;
    const ids = node.cluster.route(flockOf(key, node.flocks)).herders;
    if (order.every((id, k) => ids[k] === id)) return key;
  }
  throw new Error(`no bucket led by ${order.join(', ')}`);
}

/** Cuts `node` off from every other node of the cluster (both directions). */
export function isolate(cluster: MemoryCluster, index: number): void {
  cluster.urls.forEach((url, i) => {
    if (i !== index) cluster.network.partition(cluster.urls[index]!, url);
  });
}

/** Undoes isolate(). */
export function rejoin(cluster: MemoryCluster, index: number): void {
  cluster.urls.forEach((url, i) => {
    if (i !== index) cluster.network.heal(cluster.urls[index]!, url);
  });
}

/** Waits until `leader` leads the bucket's flock with all of `herders` in sync. */
export async function inSync(leader: GrexNode, bucketKey: string, herders: string[]): Promise<void> {
  const flock = flockOf(bucketKey, leader.flocks);
  await waitFor(
    async () => {
      const view = (await leader.describeFlock(flock)) as { leading: { synced: string[] } | null };
      return view.leading !== null && herders.every((id) => view.leading!.synced.includes(id));
    },
    { what: `${herders.join(', ')} in sync with ${leader.nodeId} for flock ${flock}`, timeoutMs: 30_000 },
  );
}
