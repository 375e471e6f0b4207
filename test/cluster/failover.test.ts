// Failover without losing acknowledged writes, over the in-memory transport:
// fencing by terms, no lost update across a failover, unacknowledged writes of a
// cut-off active node do not come back, catch-up of a node that was cut off,
// anti-entropy and read repair of damaged or missing item files, tombstone
// collection, and a counter workload through dropped and delayed messages.
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { itemCodec } from '../../src/codec.js';
import type { GrexError } from '../../src/errors.js';
import type { GrexNode } from '../../src/grex-node.js';
import { flockOf } from '../../src/keys.js';
import { decodeItemRecord, encodeItemRecord } from '../../src/store/item-record.js';
import { encodeKeyName } from '../../src/store/key-names.js';
import { Checker } from '../helpers/checker.js';
import { bucketLedBy, inSync, isolate, rejoin, startMemoryCluster, type MemoryCluster } from '../helpers/memory-cluster.js';
import { rejection } from '../helpers/nodes.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

type Nodes = [GrexNode, GrexNode, GrexNode];

async function count(node: GrexNode, bucket: string): Promise<number> {
  return (await node.submit<{ count: number }>(bucket, 'counter', { by: 0 })).result.count;
}

async function localCount(node: GrexNode, bucket: string): Promise<number | undefined> {
  const record = await node.readItem(bucket, 'count', { local: true });
  return record === undefined ? undefined : (itemCodec.unpack(record.payload) as number);
}

async function sameEverywhere(nodes: readonly GrexNode[], bucket: string): Promise<boolean> {
  const versions = await Promise.all(nodes.map(async (n) => (await n.readItem(bucket, 'count', { local: true }).catch(() => undefined))?.version));
  return versions.every((v) => v !== undefined && v.term === versions[0]!.term && v.seq === versions[0]!.seq);
}

async function seesDead(observers: readonly GrexNode[], nodeId: string): Promise<void> {
  await waitFor(() => observers.every((n) => n.cluster.stateOf(nodeId) === 'dead'), { what: `${nodeId} declared dead` });
}

async function seesAlive(cluster: MemoryCluster): Promise<void> {
  await waitFor(() => cluster.nodes.every((n) => cluster.nodes.every((m) => m === n || (n.cluster.stateOf(m.nodeId) === 'alive' && n.cluster.linkTo(m.nodeId) !== undefined))), {
    what: 'everyone alive and connected again',
  });
}

describe('fencing and failover', () => {
  test('a deposed active node\'s write is refused with GREX_ERR_STALE_TERM, and no acknowledged update is lost', async (t) => {
    const cluster = await startMemoryCluster(t, 3);
    const [a, b, c] = cluster.nodes as Nodes;
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId, c.nodeId);
    for (let i = 1; i <= 3; i++) assert.equal((await a.submit<{ count: number }>(bucket, 'counter')).result.count, i);
    await inSync(a, bucket, [b.nodeId, c.nodeId]);

    isolate(cluster, 0);
    await seesDead([b, c], a.nodeId);
    const during = await c.submit<{ count: number }>(bucket, 'counter');
    assert.equal(during.activeNode, b.url, 'b took over');
    assert.equal(during.result.count, 4);
    // A write of the old term is refused by a herder that promised the new one.
    const stale = await c.readItem(bucket, 'count', { local: true });
    const fenced = await rejection(c.cluster.request(b.nodeId, 'replicate', { flock: flockOf(bucket, 1024), term: 1, records: [encodeItemRecord({ ...stale!, version: { term: 1, seq: 999 } })] }));
    assert.equal(fenced.code, 'GREX_ERR_STALE_TERM');
    // a, cut off, still believes it leads: its write cannot reach a quorum (or it finds it cannot lead).
    assert.ok(['GREX_ERR_QUORUM', 'GREX_ERR_FLOCK_UNAVAILABLE'].includes((await rejection(a.submit(bucket, 'counter', { by: 100 }))).code!));

    rejoin(cluster, 0);
    await seesAlive(cluster);
    // a is the first live herder again, but its term is stale: it is fenced (its next write or
    // its next sync is refused), steps down, claims a new term, merges what b acknowledged,
    // and continues from there.
    // Until then a may still send its writes on to b (a refused job runs again on the node a
    // takes for the active one, and views catch up in steps, faster or slower on a loaded
    // machine): whichever node ran it, each acknowledged increment must count exactly once.
    const counts: number[] = [];
    const after = await waitFor(
      async () => {
        const answer = await a.submit<{ count: number }>(bucket, 'counter').catch(() => undefined);
        if (answer === undefined) return undefined;
        counts.push(answer.result.count);
        return answer.activeNode === a.url ? answer : undefined;
      },
      { what: 'a to lead again' },
    );
    assert.deepEqual(counts, counts.map((_, i) => 5 + i), 'acknowledged increments, each counted once');
    const total = 4 + counts.length;
    assert.equal(after.result.count, total);
    assert.ok(a.clusterInfo().counters !== undefined && (a.clusterInfo().counters as { stepDowns: number }).stepDowns >= 1, 'a was deposed');
    await waitFor(() => sameEverywhere(cluster.nodes, bucket), { what: 'every herder at the same version' });
    for (const node of cluster.nodes) assert.equal(await localCount(node, bucket), total);
  });

  test('a write that reached only the cut-off active node is gone after it rejoins', async (t) => {
    const cluster = await startMemoryCluster(t, 3);
    const [a, b, c] = cluster.nodes as Nodes;
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId, c.nodeId);
    for (let i = 1; i <= 3; i++) await a.submit(bucket, 'counter');
    await inSync(a, bucket, [b.nodeId, c.nodeId]);
    isolate(cluster, 0);
    // Unacknowledged: it is stored on a alone.
    assert.equal((await rejection(a.submit(bucket, 'counter', { by: 100 }))).code, 'GREX_ERR_QUORUM');
    assert.equal(await localCount(a, bucket), 103);
    await seesDead([b, c], a.nodeId);
    // b takes the flock over (a read: it claims a new term but writes nothing). Read-only, so
    // retried like a client would on a retryable answer (on a loaded machine c's link to b
    // may be down for a moment: GREX_ERR_PEER_UNAVAILABLE).
    const read = await waitFor(
      () => c.submit(bucket, 'read', { item: 'count' }).catch((err: GrexError) => (err.retryable === true ? undefined : Promise.reject(err))),
      { what: 'c to reach the flock\'s new active node' },
    );
    assert.equal(read.activeNode, b.url);
    rejoin(cluster, 0);
    await seesAlive(cluster);
    const now = await waitFor(() => count(a, bucket).catch(() => undefined), { what: 'a to serve again' });
    assert.equal(now, 3, 'the unacknowledged +100 did not come back');
    await waitFor(() => sameEverywhere(cluster.nodes, bucket), { what: 'every herder at the same version' });
    for (const node of cluster.nodes) assert.equal(await localCount(node, bucket), 3);
  });

  test('a herder that was cut off catches up before it counts: then every herder holds the same versions', async (t) => {
    const cluster = await startMemoryCluster(t, 3);
    const [a, b, c] = cluster.nodes as Nodes;
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId, c.nodeId);
    await a.submit(bucket, 'counter');
    isolate(cluster, 2);
    for (let i = 0; i < 5; i++) await a.submit(bucket, 'counter');
    await a.writeItem({ bucketKey: bucket, itemKey: 'extra', bytes: new Uint8Array([1]), encoding: 'raw' });
    assert.equal(await localCount(c, bucket), 1, 'c missed the writes');
    rejoin(cluster, 2);
    await inSync(a, bucket, [b.nodeId, c.nodeId]);
    assert.equal(await localCount(c, bucket), 6);
    assert.equal((await c.readItem(bucket, 'extra', { local: true }))?.payload[0], 1);
    assert.ok(await sameEverywhere(cluster.nodes, bucket));
  });

  test('a node cut off from the majority cannot claim a flock: GREX_ERR_FLOCK_UNAVAILABLE', async (t) => {
    const cluster = await startMemoryCluster(t, 3);
    const [a, b, c] = cluster.nodes as Nodes;
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId, c.nodeId);
    isolate(cluster, 0);
    await seesDead([a], b.nodeId);
    await seesDead([a], c.nodeId);
    const err = await rejection(a.submit(bucket, 'counter'));
    assert.equal(err.code, 'GREX_ERR_FLOCK_UNAVAILABLE');
    assert.equal(err.status, 503);
  });
});

describe('repair', () => {
  async function fsCluster(t: Parameters<typeof startMemoryCluster>[0]): Promise<{ cluster: MemoryCluster; dirs: string[] }> {
    const dirs: string[] = [];
    // Item files written 100 ms after a commit, not after the default interval: these tests damage them.
    const cluster = await startMemoryCluster(t, 3, { antiEntropyMs: 100, antiEntropyMbps: 1000, coalesceMs: 100 }, async () => {
      const data = await tempDir(t);
      dirs.push(data);
      return { store: 'fs', data, fsync: 'never' };
    });
    return { cluster, dirs };
  }

  const itemFile = (dir: string, node: GrexNode, bucket: string, item: string) =>
    join(dir, 'flocks', String(flockOf(bucket, node.flocks)), encodeKeyName(bucket), encodeKeyName(item));

  test('anti-entropy restores a herder\'s missing and damaged item files from the active node', async (t) => {
    const { cluster, dirs } = await fsCluster(t);
    const [a, b, c] = cluster.nodes as Nodes;
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId, c.nodeId);
    for (let i = 0; i < 3; i++) await a.submit(bucket, 'counter');
    await a.writeItem({ bucketKey: bucket, itemKey: 'doc', bytes: new Uint8Array(500).fill(9), encoding: 'raw' });
    await inSync(a, bucket, [b.nodeId, c.nodeId]);
    const missing = itemFile(dirs[1]!, b, bucket, 'count');
    const damaged = itemFile(dirs[2]!, c, bucket, 'doc');
    await waitFor(async () => (await stat(missing).catch(() => null)) !== null && (await stat(damaged).catch(() => null)) !== null, { what: 'the item files written' });
    await rm(missing);
    const bytes = await readFile(damaged);
    bytes[bytes.length - 1]! ^= 0xff;
    await writeFile(damaged, bytes);
    await waitFor(async () => (await localCount(b, bucket).catch(() => undefined)) === 3, { what: 'b\'s count restored' });
    await waitFor(async () => (await c.readItem(bucket, 'doc', { local: true }).catch(() => undefined))?.payload[499] === 9, { what: 'c\'s doc repaired' });
  });

  test('a damaged item on the active node is repaired from the herders when a job reads it', async (t) => {
    const { cluster, dirs } = await fsCluster(t);
    const [a, b, c] = cluster.nodes as Nodes;
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId, c.nodeId);
    for (let i = 0; i < 4; i++) await a.submit(bucket, 'counter');
    await inSync(a, bucket, [b.nodeId, c.nodeId]);
    await waitFor(() => sameEverywhere(cluster.nodes, bucket), { what: 'every herder holding the count' });
    const file = itemFile(dirs[0]!, a, bucket, 'count');
    const committed = (await a.readItem(bucket, 'count', { local: true }))!.version;
    // Wait for the last commit to reach the file (it is written behind the log), then damage it.
    const bytes = await waitFor(async () => {
      const onDisk = await readFile(file).catch(() => undefined);
      return onDisk !== undefined && decodeItemRecord(onDisk, file).version.seq === committed.seq && onDisk;
    }, { what: 'the item file written' });
    bytes[bytes.length - 1]! ^= 0xff;
    await writeFile(file, bytes);
    // A write elsewhere in the bucket makes the job thread read the count again.
    await a.writeItem({ bucketKey: bucket, itemKey: 'other', bytes: new Uint8Array([1]), encoding: 'raw' });
    assert.equal((await a.submit<{ count: number }>(bucket, 'counter')).result.count, 5);
  });

  test('tombstones are removed once every herder has them', async (t) => {
    const { cluster, dirs } = await fsCluster(t);
    const [a, b, c] = cluster.nodes as Nodes;
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId, c.nodeId);
    await a.writeItem({ bucketKey: bucket, itemKey: 'gone', bytes: new Uint8Array([1]), encoding: 'raw' });
    await a.writeItem({ bucketKey: bucket, itemKey: 'gone', bytes: null, encoding: 'raw' });
    assert.equal(await a.readItem(bucket, 'gone'), undefined);
    const files = cluster.nodes.map((n, i) => itemFile(dirs[i]!, n, bucket, 'gone'));
    await waitFor(async () => (await Promise.all(files.map((f) => stat(f).then(() => true, () => false)))).every((exists) => !exists), {
      what: 'the tombstone removed on every herder',
    });
    assert.ok(a.clusterInfo().counters !== undefined);
  });
});

describe('dropped and delayed messages', () => {
  test('counters through lost and late bleets: nothing acknowledged is lost, replicas converge', async (t) => {
    const seed = Number(process.env.GREX_FAULT_SEED ?? 20261126);
    const cluster = await startMemoryCluster(t, 3, { bleetTimeoutMs: 300, jobTimeoutMs: 2000 });
    const random = prng(seed);
    const buckets = ['alice', 'bob', 'carol', 'dave'];
    const checker = new Checker();
    cluster.network.setFaults({ dropRate: 0.01, delayMs: [0, 15], seed });
    const until = Date.now() + 4000;
    await Promise.all(
      buckets.map(async (bucket) => {
        while (Date.now() < until) {
          const node = cluster.nodes[Math.floor(random() * cluster.nodes.length)]!;
          try {
            const { result } = await node.submit<{ count: number }>(bucket, 'counter');
            checker.acknowledged(bucket, result.count);
          } catch (err) {
            checker.failed(bucket, (err as { code?: string }).code);
          }
        }
      }),
    );
    cluster.network.setFaults({});
    const finals = new Map<string, number>();
    for (const bucket of buckets) {
      finals.set(bucket, await waitFor(() => count(cluster.nodes[0]!, bucket).catch(() => undefined), { what: `the final count of ${bucket}` }));
      await waitFor(() => sameEverywhere(cluster.nodes, bucket), { what: `${bucket} the same on every herder` });
    }
    const problems = checker.problems(finals);
    assert.deepEqual(problems, [], `seed ${seed}\n${checker.summary()}`);
    assert.ok([...checker.buckets.values()].every((h) => h.acknowledged > 0), `every bucket made progress (seed ${seed})\n${checker.summary()}`);
  });
});
