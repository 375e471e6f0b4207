/**
 * Grex as users run it: `grex start` processes (dist/), a filesystem store
 * in a temp folder, the default fsync policy (`always`: a write is answered
 * after its batch of the write-ahead log is fsynced), the benchmark's jobs
 * from bench/jobs (append-record, list-summary).
 *
 * - one node, with its object cache (default 256 MiB) or without (`--cache-mb 0`);
 * - three nodes, `--replicas 3` (every flock on every node, a write waits for
 *   a majority: 2 of 3), measured two ways: the client sends each request
 *   straight to its bucket's active node (asked once per bucket with
 *   GET /route/:bucketKey before the load), or to a random node, which
 *   forwards it to the active node as one bleet.
 */
import { join } from 'node:path';
import { requestJson } from '../../test/helpers/http.js';
import { parseMetrics, sumSeries } from '../../test/helpers/metrics.js';
import { repoRoot } from '../../test/helpers/paths.js';
import { waitForSettled } from '../../test/helpers/process-cluster.js';
import { startNodeProcess, type NodeProcess } from '../../test/helpers/processes.js';
import { tempDir } from '../../test/helpers/temp-dir.js';
import type { LoadTarget } from '../run-load.js';
import type { Scope } from '../scope.js';
import { fetchJson, putLists } from './seed.js';
import { evenTargets, type Deployment, type JobTally, type StartOptions, type SystemSetup, type Variant } from './system.js';

export const BENCH_JOBS = join(repoRoot, 'bench', 'jobs');
const ITEM = 'records';

async function startGrexNode(scope: Scope, options: StartOptions, name: string, extra: string[]): Promise<NodeProcess> {
  const data = await tempDir(scope, `grex-bench-${name}-`);
  const args = ['--http', '127.0.0.1:0', '--data', data, '--jobs', BENCH_JOBS, '--node-id', name, ...options.grexArgs, ...extra];
  const node = await startNodeProcess(scope, args, { nodeArgs: options.grexNodeArgs, ...(options.cli === undefined ? {} : { cli: options.cli }) });
  // A clean stop (SIGTERM) before the helper's SIGKILL: a profiled node writes its profile then.
  scope.after(() => node.stop('SIGTERM'));
  return node;
}

function grexDeployment(nodes: NodeProcess[], variants: Variant[]): Deployment {
  const first = nodes[0]!;
  return {
    variants,
    write: { method: 'POST', path: '/buckets/{key}/jobs/append-record', recordBody: true },
    read: { method: 'POST', path: '/buckets/{key}/jobs/list-summary', recordBody: false },
    seed: (keys, records) => putLists((key) => `${first.url}/buckets/${encodeURIComponent(key)}/items/${ITEM}`, keys, records),
    listLength: async (key) => {
      const answer = (await fetchJson(`${first.url}/buckets/${encodeURIComponent(key)}/jobs/list-summary`, { method: 'POST' })) as {
        result: { count: number };
      };
      return answer.result.count;
    },
    jobTally: () => jobTally(nodes),
  };
}

/** Jobs run on every node (grex_jobs_total) and jobs a node sent on to the active one (grex_forwards_total). */
async function jobTally(nodes: NodeProcess[]): Promise<JobTally> {
  const all = await Promise.all(
    nodes.map(async (node) => {
      const res = await fetch(`${node.url}/metrics`);
      if (!res.ok) throw new Error(`GET ${node.url}/metrics: ${res.status}`);
      return parseMetrics(await res.text());
    }),
  );
  return {
    ran: all.reduce((n, samples) => n + sumSeries(samples, 'grex_jobs_total'), 0),
    forwarded: all.reduce((n, samples) => n + sumSeries(samples, 'grex_forwards_total', { what: 'job' }), 0),
  };
}

function singleNode(id: string, label: string, extra: string[], halfRate: boolean): SystemSetup {
  return {
    id,
    async start(scope, options) {
      const node = await startGrexNode(scope, options, id, extra);
      return grexDeployment([node], [{ id, label, halfRate, targets: async (keys, connections) => evenTargets([node.url], keys, connections) }]);
    },
  };
}

export const grexSingleSetup = singleNode('grex-1', 'Grex, 1 node', [], true);
export const grexNoCacheSetup = singleNode('grex-1-nocache', 'Grex, 1 node, no cache', ['--cache-mb', '0'], false);

/** Each bucket's active node, as the cluster answers GET /route/:bucketKey (asked once per bucket). */
export async function activeNodes(via: NodeProcess, keys: string[]): Promise<Map<string, string>> {
  const active = new Map<string, string>();
  for (const key of keys) {
    const { body } = await requestJson(`${via.url}/route/${encodeURIComponent(key)}`);
    const url = (body as { activeNode: string | null }).activeNode;
    if (url === null) throw new Error(`bucket ${key} has no active node`);
    active.set(key, url);
  }
  return active;
}

/** Each customer's requests to its bucket's active node; connections in proportion to the customers. */
async function directTargets(nodes: NodeProcess[], keys: string[], connections: number): Promise<LoadTarget[]> {
  const active = await activeNodes(nodes[0]!, keys);
  const byNode = new Map<string, string[]>(nodes.map((n) => [n.url, []]));
  for (const key of keys) {
    const list = byNode.get(active.get(key)!);
    if (list === undefined) throw new Error(`bucket ${key} is active on ${active.get(key)}, not a node of this cluster`);
    list.push(key);
  }
  const targets: LoadTarget[] = [];
  for (const [url, nodeKeys] of byNode) {
    if (nodeKeys.length === 0) continue;
    targets.push({ url, keys: nodeKeys, connections: Math.max(1, Math.round((connections * nodeKeys.length) / keys.length)) });
  }
  return targets;
}

/** Three nodes peered through the first, `--replicas 3`, settled (all alive, one farm map). */
export async function startGrexCluster(scope: Scope, options: StartOptions): Promise<NodeProcess[]> {
  const clusterArgs = (seed: NodeProcess | null) => ['--bleet', '127.0.0.1:0', '--replicas', '3', ...(seed === null ? [] : ['--peers', seed.bleetAddress])];
  const first = await startGrexNode(scope, options, 'node-a', clusterArgs(null));
  const rest = await Promise.all(['node-b', 'node-c'].map((name) => startGrexNode(scope, options, name, clusterArgs(first))));
  const nodes = [first, ...rest];
  await waitForSettled(nodes);
  return nodes;
}

export const grexClusterSetup: SystemSetup = {
  id: 'grex-3',
  async start(scope, options) {
    const nodes = await startGrexCluster(scope, options);
    return grexDeployment(nodes, [
      { id: 'grex-3-direct', label: 'Grex, 3 nodes, direct', targets: (keys, connections) => directTargets(nodes, keys, connections) },
      {
        id: 'grex-3-forward',
        label: 'Grex, 3 nodes, random node',
        targets: async (keys, connections) => evenTargets(nodes.map((n) => n.url), keys, connections),
      },
    ]);
  },
};
