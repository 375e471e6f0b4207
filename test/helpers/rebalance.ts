/** Real-process clusters for the rebalancing tests: nodes that keep their data folder, and waits on the farm. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { unpack } from 'msgpackr';
import { parseFarm } from '../../src/cluster/farm-map.js';
import { requestJson } from './http.js';
import { exampleJobs } from './paths.js';
import { startNodeProcess, type NodeProcess } from './processes.js';
import { tempDir } from './temp-dir.js';
import { waitFor } from './wait-for.js';

/** Quick failure detection, so the tests do not wait for the production timeouts. */
export const FAST = ['--heartbeat-ms', '100', '--suspect-after-ms', '600', '--dead-after-ms', '1200', '--anti-entropy-ms', '1000', '--bleet-timeout-ms', '3000'];

export interface DataNode {
  name: string;
  data: string;
  proc: NodeProcess;
}

export interface ClusterView {
  mode: 'auto' | 'manual';
  mapVersion: number;
  herdingFlocks: string;
  flocksHerding: number;
  flockStates: { fresh: number; settled: number; moving: number };
  members: { nodeId: string; state: string; herd: boolean; removed?: boolean; learning: number }[];
  counters: { transferBytes: number; transfersDone: number; flocksDropped: number; flocksPromoted: number; rerouted: number };
  transfers: { flock: number; source: string; page: number; pages: number; items: number; bytes: number }[];
}

/** Starts `grex start` with its own data folder (or `data`, to restart on it). */
export async function startDataNode(t: Pick<TestContext, 'after'>, name: string, seed: DataNode | null, extra: string[] = [], data?: string): Promise<DataNode> {
  const dir = data ?? (await tempDir(t, `grex-${name}-`));
  const args = ['--http', '127.0.0.1:0', '--bleet', '127.0.0.1:0', '--data', dir, '--jobs', exampleJobs, '--workers', '1', '--node-id', name, ...FAST, ...extra];
  if (seed !== null) args.push('--peers', seed.proc.bleetAddress);
  return { name, data: dir, proc: await startNodeProcess(t, args) };
}

export async function clusterView(node: DataNode): Promise<ClusterView> {
  return (await requestJson(`${node.proc.url}/cluster`)).body as ClusterView;
}

export function herding(view: ClusterView): Set<number> {
  return new Set(view.herdingFlocks === '' ? [] : parseFarm(view.herdingFlocks, 1024));
}

/**
 * Waits until the live nodes agree on the members (`live` alive and herding,
 * the others not herding or removed) and every claimed flock is herded by
 * exactly its target herders, with nothing still moving.
 */
export async function waitForFarm(live: readonly DataNode[], what: string): Promise<ClusterView[]> {
  const names = new Set(live.map((n) => n.name));
  return waitFor(
    async () => {
      const views = await Promise.all(live.map(clusterView));
      const agreed = views.every(
        (v) =>
          v.mapVersion === views[0]!.mapVersion &&
          v.members.every((m) => (names.has(m.nodeId) ? m.state === 'alive' && m.herd && m.learning === 0 : !m.herd || m.removed === true)) &&
          v.flockStates.moving === 0 &&
          v.flockStates.settled > 0,
      );
      return agreed && views;
    },
    { what, timeoutMs: 90_000, intervalMs: 100 },
  );
}

/** Flocks of which a node holds item files (a flock's metadata file does not count). */
export async function flocksWithFiles(data: string): Promise<number[]> {
  const root = join(data, 'flocks');
  const out: number[] = [];
  for (const flock of await readdir(root).catch(() => [] as string[])) {
    const buckets = await readdir(join(root, flock), { withFileTypes: true });
    for (const bucket of buckets) {
      if (!bucket.isDirectory()) continue;
      if ((await readdir(join(root, flock, bucket.name))).some((f) => !f.startsWith('.'))) {
        out.push(Number(flock));
        break;
      }
    }
  }
  return out.sort((a, b) => a - b);
}

/** Waits until a node holds item files only of flocks it herds. */
export async function holdsOnlyWhatItHerds(node: DataNode): Promise<void> {
  let stray: number[] = [];
  await waitFor(
    async () => {
      const herded = herding(await clusterView(node));
      stray = (await flocksWithFiles(node.data)).filter((f) => !herded.has(f));
      return stray.length === 0;
    },
    { what: `${node.name} to hold files only of flocks it herds`, timeoutMs: 30_000 },
  ).catch(async (err: Error) => {
    const first = stray[0] === undefined ? [] : await readdir(join(node.data, 'flocks', String(stray[0])), { recursive: true });
    throw new Error(`${err.message}; files of flocks ${stray.join(', ')} remain (flock ${stray[0]}: ${first.join(' ')})`);
  });
}

/** The counter of a bucket as its active node has it (0 when absent). */
export async function counterOf(node: DataNode, bucket: string): Promise<number> {
  return waitFor(
    async () => {
      const res = await fetch(`${node.proc.url}/buckets/${bucket}/items/count`);
      if (res.status === 404) return 0;
      if (res.status !== 200) return undefined;
      return unpack(Buffer.from(await res.arrayBuffer())) as number;
    },
    { what: `the count of ${bucket}`, timeoutMs: 30_000 },
  );
}
