/** Clusters of real `grex start` processes on 127.0.0.1, ports chosen at run time. */
import type { TestContext } from 'node:test';
import { requestJson } from './http.js';
import { exampleJobs } from './paths.js';
import { startNodeProcess, type NodeProcess } from './processes.js';
import { tempDir } from './temp-dir.js';
import { waitFor } from './wait-for.js';

/** Starts one node that peers through `seed` (or none), with its own data folder. */
export async function startClusterProcess(t: Pick<TestContext, 'after'>, name: string, seed: NodeProcess | null, extra: string[] = []): Promise<NodeProcess> {
  const data = await tempDir(t, `grex-${name}-`);
  const args = ['--http', '127.0.0.1:0', '--bleet', '127.0.0.1:0', '--data', data, '--jobs', exampleJobs, '--workers', '1', '--node-id', name];
  if (seed !== null) args.push('--peers', seed.bleetAddress);
  return startNodeProcess(t, [...args, ...extra]);
}

/**
 * Starts `names.length` nodes; every node after the first joins through the first.
 * `view` reads a node's GET /cluster (default: plain fetch; TLS tests pass one that trusts their CA).
 */
export async function startProcessCluster(
  t: Pick<TestContext, 'after'>,
  names: string[],
  extra: (name: string) => string[] = () => [],
  view: ClusterViewReader = defaultView,
): Promise<NodeProcess[]> {
  const first = await startClusterProcess(t, names[0]!, null, extra(names[0]!));
  const rest = await Promise.all(names.slice(1).map((name) => startClusterProcess(t, name, first, extra(name))));
  const nodes = [first, ...rest];
  await waitForSettled(nodes, view);
  return nodes;
}

interface ClusterView {
  mapVersion: number;
  members: { nodeId: string; state: string; connected: boolean; learning: number }[];
}

export type ClusterViewReader = (url: string) => Promise<unknown>;

const defaultView: ClusterViewReader = async (url) => (await requestJson(`${url}/cluster`)).body;

/** Waits until every node sees all of `nodes` alive and connected, at one farm-map version, and nobody copying a flock. */
export async function waitForSettled(nodes: readonly Pick<NodeProcess, 'url'>[], view: ClusterViewReader = defaultView): Promise<void> {
  await waitFor(
    async () => {
      const views = await Promise.all(nodes.map(async (n) => (await view(n.url)) as ClusterView));
      return views.every(
        (v) =>
          v.members.length === nodes.length &&
          v.members.every((m) => m.state === 'alive' && m.connected && m.learning === 0) &&
          v.mapVersion === views[0]!.mapVersion,
      );
    },
    { what: 'the cluster to settle', timeoutMs: 60_000, intervalMs: 50 },
  );
}

/** A bucket whose active node (as `via` sees it) is `active`. */
export async function bucketActiveOn(via: NodeProcess, active: NodeProcess, prefix = 'b'): Promise<string> {
  for (let i = 0; i < 10_000; i++) {
    const { body } = await requestJson(`${via.url}/route/${prefix}-${i}`);
    if (body.activeNode === active.url) return `${prefix}-${i}`;
  }
  throw new Error(`no bucket is active on ${active.url}`);
}

/** Waits until `active` leads the bucket's flock with every one of `herders` in sync. */
export async function waitForInSync(active: NodeProcess, bucket: string, herders: string[]): Promise<void> {
  const { flock } = (await requestJson(`${active.url}/route/${encodeURIComponent(bucket)}`)).body as { flock: number };
  await waitFor(
    async () => {
      const view = (await requestJson(`${active.url}/cluster/flocks/${flock}`)).body as { leading: { synced: string[] } | null };
      return view.leading !== null && herders.every((id) => view.leading!.synced.includes(id));
    },
    { what: `${herders.join(', ')} in sync for flock ${flock}`, timeoutMs: 30_000 },
  );
}

/** The version of a bucket's `count` item each node holds itself (null: none). */
export async function localVersions(nodes: readonly NodeProcess[], bucket: string): Promise<(string | null)[]> {
  return Promise.all(
    nodes.map(async (n) => {
      const res = await fetch(`${n.url}/buckets/${bucket}/items/count?local=true`);
      await res.arrayBuffer();
      return res.status === 200 ? res.headers.get('grex-version') : null;
    }),
  );
}
