// Appends (ctx.append) in a three-node cluster over the in-memory transport, with
// filesystem stores: appends replicate as deltas and every herder ends with the
// active node's bytes and version, without whole items sent; a herder cut off while
// appends went on catches up (by a sync, or by whole items when a delta finds it
// behind) and then holds the same list; and through lost and late bleets no
// acknowledged append is lost, none is applied twice, and replicas converge.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { itemCodec } from '../../src/codec.js';
import type { GrexNode } from '../../src/grex-node.js';
import { bucketLedBy, inSync, isolate, rejoin, startMemoryCluster, type MemoryCluster } from '../helpers/memory-cluster.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

type Nodes = [GrexNode, GrexNode, GrexNode];

async function fsCluster(t: Parameters<typeof startMemoryCluster>[0], options: Parameters<typeof startMemoryCluster>[2] = {}): Promise<MemoryCluster> {
  return startMemoryCluster(t, 3, options, async () => ({ store: 'fs', data: await tempDir(t), fsync: 'never' }));
}

/** Each node's own copy of the bucket's list: version and bytes. */
async function copies(nodes: readonly GrexNode[], bucket: string, item = 'list'): Promise<(string | undefined)[]> {
  return Promise.all(
    nodes.map(async (n) => {
      const record = await n.readItem(bucket, item, { local: true }).catch(() => undefined);
      return record === undefined ? undefined : `${record.version.term}-${record.version.seq}:${Buffer.from(record.payload).toString('hex')}`;
    }),
  );
}

async function sameEverywhere(nodes: readonly GrexNode[], bucket: string): Promise<boolean> {
  const all = await copies(nodes, bucket);
  return all[0] !== undefined && all.every((c) => c === all[0]);
}

const wholeResends = (node: GrexNode) => (node.clusterInfo().counters as { wholeResends: number }).wholeResends;

async function listOn(node: GrexNode, bucket: string): Promise<unknown[]> {
  const record = await node.readItem(bucket, 'list');
  return record === undefined ? [] : (itemCodec.unpack(record.payload) as unknown[]);
}

describe('appends in a cluster', () => {
  test('replicate as deltas: every herder holds the active node\'s bytes and version, no whole item sent', async (t) => {
    const cluster = await fsCluster(t);
    const [a, b, c] = cluster.nodes as Nodes;
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId, c.nodeId);
    await a.submit(bucket, 'append-keep', { value: { i: 0 }, keep: 10 });
    await inSync(a, bucket, [b.nodeId, c.nodeId]);
    for (let i = 1; i <= 30; i++) {
      const node = cluster.nodes[i % 3]!;
      const { result } = await node.submit<{ length: number }>(bucket, 'append-keep', { value: { i, at: new Date(1_700_000_000_000 + i) }, keep: 10 });
      assert.equal(result.length, Math.min(i + 1, 10));
    }
    assert.deepEqual(
      (await listOn(b, bucket)).map((r) => (r as { i: number }).i),
      Array.from({ length: 10 }, (_, k) => 21 + k),
    );
    await waitFor(() => sameEverywhere(cluster.nodes, bucket), { what: 'every herder with the same list' });
    assert.equal(wholeResends(a), 0, 'herders in sync applied every delta themselves');
  });

  test('a herder that missed appends catches up and then holds the same list', async (t) => {
    const cluster = await fsCluster(t);
    const [a, b, c] = cluster.nodes as Nodes;
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId, c.nodeId);
    for (let i = 0; i < 5; i++) await a.submit(bucket, 'append-keep', { value: i });
    await inSync(a, bucket, [b.nodeId, c.nodeId]);
    isolate(cluster, 2);
    for (let i = 5; i < 15; i++) await a.submit(bucket, 'append-keep', { value: i });
    assert.deepEqual(itemCodec.unpack((await c.readItem(bucket, 'list', { local: true }))!.payload), [0, 1, 2, 3, 4], 'c missed them');
    rejoin(cluster, 2);
    // Appends go on while c comes back: it takes them as deltas, or whole while behind.
    let next = 15;
    const synced = inSync(a, bucket, [b.nodeId, c.nodeId]).then(() => true);
    while (!(await Promise.race([synced, Promise.resolve(false)])) || next < 25) await a.submit(bucket, 'append-keep', { value: next++ });
    await a.submit(bucket, 'append-keep', { value: next++ });
    await waitFor(() => sameEverywhere(cluster.nodes, bucket), { what: 'c with the same list' });
    assert.deepEqual(itemCodec.unpack((await c.readItem(bucket, 'list', { local: true }))!.payload), Array.from({ length: next }, (_, i) => i));
  });

  test('through lost and late bleets: no acknowledged append is lost, none is applied twice, replicas converge', async (t) => {
    const seed = Number(process.env.GREX_FAULT_SEED ?? 20261127);
    const cluster = await fsCluster(t, { bleetTimeoutMs: 300, jobTimeoutMs: 2000 });
    const random = prng(seed);
    const buckets = ['alice', 'bob', 'carol'];
    const acknowledged = new Map<string, number[]>(buckets.map((b) => [b, []]));
    const sent = new Map<string, number>(buckets.map((b) => [b, 0]));
    cluster.network.setFaults({ dropRate: 0.01, delayMs: [0, 15], seed });
    const until = Date.now() + 4000;
    await Promise.all(
      buckets.map(async (bucket) => {
        while (Date.now() < until) {
          const node = cluster.nodes[Math.floor(random() * cluster.nodes.length)]!;
          const value = sent.get(bucket)! + 1;
          sent.set(bucket, value);
          try {
            await node.submit(bucket, 'append-keep', { value });
            acknowledged.get(bucket)!.push(value);
          } catch {
            // not acknowledged: it may or may not be in the list
          }
        }
      }),
    );
    cluster.network.setFaults({});
    for (const bucket of buckets) {
      const list = (await waitFor(() => listOn(cluster.nodes[0]!, bucket).catch(() => undefined), { what: `the list of ${bucket}` })) as number[];
      const acked = acknowledged.get(bucket)!;
      assert.ok(acked.length > 0, `${bucket} made progress (seed ${seed})`);
      assert.deepEqual(acked.filter((value) => !list.includes(value)), [], `acknowledged appends lost from ${bucket} (seed ${seed})`);
      assert.equal(new Set(list).size, list.length, `an append applied twice in ${bucket} (seed ${seed}): ${list.join(',')}`);
      assert.deepEqual([...list].sort((x, y) => x - y), list, `${bucket} out of order (seed ${seed})`);
      await waitFor(() => sameEverywhere(cluster.nodes, bucket), { what: `${bucket} the same on every herder (seed ${seed})` });
    }
  });
});
