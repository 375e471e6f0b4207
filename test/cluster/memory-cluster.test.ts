// Many nodes in one process over the in-memory transport: the member table and
// farm map settle to the same version everywhere; jobs from any node run on the
// flock's active node; every change reaches every herder before the answer;
// the write quorum; failover to the next live herder; cache coherence.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeItemRecord } from '../../src/store/item-record.js';
import { flockOf } from '../../src/keys.js';
import { itemCodec } from '../../src/codec.js';
import { rejection } from '../helpers/nodes.js';
import { bucketLedBy, settled, startMemoryCluster } from '../helpers/memory-cluster.js';
import { waitFor } from '../helpers/wait-for.js';

describe('membership and the farm map', () => {
  test('five nodes joining through one settle on the same members and farm map', async (t) => {
    const { nodes } = await startMemoryCluster(t, 5);
    const version = nodes[0]!.cluster.mapVersion;
    for (const node of nodes) {
      assert.equal(node.cluster.mapVersion, version);
      assert.deepEqual(node.cluster.farm.herders, nodes[0]!.cluster.farm.herders);
      assert.equal(node.cluster.members().length, 5);
    }
    // replicas 3: every flock has three distinct herders
    for (const herders of nodes[0]!.cluster.farm.herders) assert.equal(new Set(herders).size, 3);
  });

  test('a node with herd false routes and submits but herds no flock', async (t) => {
    const cluster = await startMemoryCluster(t, 3);
    const router = await cluster.add({ herd: false });
    await settled(cluster.nodes);
    assert.ok(cluster.nodes[0]!.cluster.farm.herders.every((h) => !h.includes(router.nodeId)));
    const { result, activeNode } = await router.submit('via-router', 'counter');
    assert.deepEqual(result, { count: 1 });
    assert.notEqual(activeNode, router.url);
    assert.equal(router.cluster.counters.jobsLocal, 0);
  });

  test('a manual farm: each node herds the flocks it declares', async (t) => {
    const cluster = await startMemoryCluster(t, 0);
    await cluster.add({ farm: '0-1023' });
    await cluster.add({ farm: '0-511' });
    await cluster.add({ farm: '512-1023' });
    await settled(cluster.nodes);
    const [a, b, c] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]];
    const herders = a.cluster.farm.herders;
    assert.equal(a.cluster.farm.mode, 'manual');
    assert.deepEqual([...herders[0]!].sort(), [a.nodeId, b.nodeId].sort());
    assert.deepEqual([...herders[700]!].sort(), [a.nodeId, c.nodeId].sort());
    const key = bucketLedBy(a, c.nodeId);
    assert.ok(flockOf(key, 1024) >= 512);
    assert.equal((await b.submit(key, 'counter')).activeNode, c.url);
  });
});

describe('routing and replication', () => {
  test('a job sent to each node runs on the active node, and the count has no gaps', async (t) => {
    const { nodes } = await startMemoryCluster(t, 3);
    const bucket = 'johndoe';
    const activeNode = nodes[0]!.route(bucket).activeNode;
    let expected = 0;
    for (let round = 0; round < 3; round++) {
      for (const node of nodes) {
        const answer = await node.submit<{ count: number }>(bucket, 'counter');
        assert.equal(answer.result.count, ++expected);
        assert.equal(answer.activeNode, activeNode);
      }
    }
    const forwarded = nodes.reduce((n, node) => n + node.cluster.counters.jobsForwarded, 0);
    assert.equal(forwarded, 6, 'two of three nodes forwarded each round');
  });

  test('after each job every herder holds the same version of the item', async (t) => {
    const { nodes } = await startMemoryCluster(t, 4);
    for (let i = 0; i < 5; i++) {
      await nodes[i % 4]!.submit('replicated', 'counter');
      const herders = nodes.filter((n) => n.cluster.route(flockOf('replicated', 1024)).target.includes(n.nodeId));
      assert.equal(herders.length, 3);
      const versions = await Promise.all(herders.map(async (n) => (await n.readItem('replicated', 'count', { local: true }))?.version));
      // majority quorum: the answer waited for two of three; the third gets it right after
      await waitFor(async () => {
        const now = await Promise.all(herders.map(async (n) => (await n.readItem('replicated', 'count', { local: true }))?.version.seq));
        return now.every((seq) => seq === now[0]) && now[0] !== undefined;
      }, { what: 'every herder to hold the write' });
      assert.ok(versions.filter((v) => v?.seq === versions.map((x) => x?.seq ?? 0).reduce((a, b) => Math.max(a, b))).length >= 2);
    }
  });

  test('a node that is not a herder answers ?local reads with GREX_ERR_NOT_HERDER', async (t) => {
    const { nodes } = await startMemoryCluster(t, 4);
    const outsider = nodes.find((n) => !n.cluster.route(flockOf('b', 1024)).target.includes(n.nodeId))!;
    await outsider.submit('b', 'counter');
    assert.equal((await rejection(outsider.readItem('b', 'count', { local: true }))).code, 'GREX_ERR_NOT_HERDER');
    assert.equal((await outsider.readItem('b', 'count'))?.encoding, 'msgpack', 'a plain read goes to the active node');
  });

  test('item writes and listings from any node go to the active node and replicate', async (t) => {
    const { nodes } = await startMemoryCluster(t, 3);
    const [a, b, c] = nodes as [typeof nodes[0], typeof nodes[0], typeof nodes[0]];
    const version = await b.writeItem({ bucketKey: 'doc', itemKey: 'raw', bytes: new Uint8Array([1, 2, 3]), encoding: 'raw' });
    assert.deepEqual((await c.listItems('doc')).map((i) => i.itemKey), ['raw']);
    assert.deepEqual((await a.readItem('doc', 'raw'))?.version, version);
    await waitFor(async () => (await Promise.all(nodes.map((n) => n.readItem('doc', 'raw', { local: true })))).every((r) => r?.version.seq === version.seq), {
      what: 'the write on every herder',
    });
  });

  test('a node that is not active answers a forwarded job with GREX_ERR_NOT_ACTIVE naming the active node', async (t) => {
    const { nodes } = await startMemoryCluster(t, 3);
    const [a, b] = nodes as [typeof nodes[0], typeof nodes[0]];
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId);
    const err = await rejection(
      a.cluster.request(b.nodeId, 'job', { bucketKey: bucket, jobName: 'counter', data: null, dataEncoding: 'json', resultEncoding: 'json' }),
    );
    assert.equal(err.code, 'GREX_ERR_NOT_ACTIVE');
    assert.equal(err.data?.activeNodeId, a.nodeId);
    assert.equal(err.data?.mapVersion, b.cluster.mapVersion);
  });
});

describe('quorum and failover', () => {
  test('with one herder cut off writes succeed; with two they fail with GREX_ERR_QUORUM and are not acknowledged', async (t) => {
    const cluster = await startMemoryCluster(t, 3);
    const [a, b, c] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]];
    const [ua, ub, uc] = cluster.urls as [string, string, string];
    const bucket = bucketLedBy(a, a.nodeId);
    assert.deepEqual((await a.submit(bucket, 'counter')).result, { count: 1 });
    cluster.network.partition(ua, ub);
    assert.deepEqual((await a.submit(bucket, 'counter')).result, { count: 2 });
    cluster.network.partition(ua, uc);
    const err = await rejection(a.submit(bucket, 'counter'));
    assert.equal(err.code, 'GREX_ERR_QUORUM');
    assert.ok(a.cluster.counters.quorumFailures >= 1);
    // b and c never saw the refused write; their copies still say 2
    for (const node of [b, c]) {
      const record = await node.readItem(bucket, 'count', { local: true });
      assert.ok(record !== undefined && (itemCodec.unpack(record.payload) as number) <= 2);
    }
  });

  test('when the active node is cut off from everyone, the next herder takes over with the replicated data', async (t) => {
    const cluster = await startMemoryCluster(t, 3);
    const [a, b, c] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]];
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId);
    for (let i = 0; i < 3; i++) await c.submit(bucket, 'counter');
    await waitFor(async () => (await b.readItem(bucket, 'count', { local: true }))?.version.seq === (await a.readItem(bucket, 'count', { local: true }))?.version.seq, {
      what: 'b to hold the last write',
    });
    cluster.network.partition(cluster.urls[0]!, cluster.urls[1]!);
    cluster.network.partition(cluster.urls[0]!, cluster.urls[2]!);
    await waitFor(() => b.cluster.stateOf(a.nodeId) === 'dead' && c.cluster.stateOf(a.nodeId) === 'dead', { what: 'a to be declared dead' });
    const answer = await c.submit<{ count: number }>(bucket, 'counter');
    assert.equal(answer.activeNode, b.url);
    assert.deepEqual(answer.result, { count: 4 });
  });
});

describe('unassigned flocks', () => {
  test('a node that sees every herder of a flock dead answers GREX_ERR_FLOCK_UNASSIGNED', async (t) => {
    const cluster = await startMemoryCluster(t, 4, { replicas: 3 });
    const [a, b, c, d] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]];
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId, c.nodeId);
    for (const url of cluster.urls.slice(0, 3)) cluster.network.partition(cluster.urls[3]!, url);
    await waitFor(() => [a, b, c].every((n) => d.cluster.stateOf(n.nodeId) === 'dead'), { what: 'd to see the others dead' });
    const err = await rejection(d.submit(bucket, 'counter'));
    assert.equal(err.code, 'GREX_ERR_FLOCK_UNASSIGNED');
    assert.equal(err.status, 503);
  });
});

describe('cache coherence', () => {
  test('a replicated write drops the receiving node\'s cached copy of the bucket', async (t) => {
    const { nodes } = await startMemoryCluster(t, 3);
    const [a, b] = nodes as [typeof nodes[0], typeof nodes[0]];
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId);
    assert.deepEqual((await a.submit(bucket, 'counter')).result, { count: 1 }); // a caches count = 1
    const flock = flockOf(bucket, 1024);
    const newer = await b.readItem(bucket, 'count', { local: true });
    // b sends a a newer version of the item, as an active node would.
    const record = { ...newer!, version: { term: 1, seq: newer!.version.seq + 100 }, payload: itemCodec.pack(41) };
    const { applied } = await b.cluster.request(a.nodeId, 'replicate', { flock, term: 1, records: [encodeItemRecord(record)] });
    assert.equal(applied, 1);
    assert.deepEqual((await a.submit(bucket, 'counter')).result, { count: 42 });
    // an older version than the one held is ignored
    const stale = { ...record, version: { term: 1, seq: 1 }, payload: itemCodec.pack(0) };
    assert.equal((await b.cluster.request(a.nodeId, 'replicate', { flock, term: 1, records: [encodeItemRecord(stale)] })).applied, 0);
    assert.deepEqual((await a.submit(bucket, 'counter')).result, { count: 43 });
  });
});

describe('bleets naming what does not exist', () => {
  test('a fetch or digest of a flock out of range, or a fetch of an invalid key, is refused and the node goes on', async (t) => {
    const { nodes } = await startMemoryCluster(t, 2);
    const [a, b] = nodes as [typeof nodes[0], typeof nodes[0]];
    const bucket = bucketLedBy(a, a.nodeId, b.nodeId);
    assert.deepEqual((await a.submit(bucket, 'counter')).result, { count: 1 });
    const flock = flockOf(bucket, 1024);
    const refused: [Promise<unknown>, string][] = [
      [b.cluster.request(a.nodeId, 'fetch', { flock: 1024, keys: [[bucket, 'count']] }), 'GREX_ERR_BLEET_INVALID'],
      [b.cluster.request(a.nodeId, 'digest', { flock: 5000, term: 1 }), 'GREX_ERR_BLEET_INVALID'],
      [b.cluster.request(a.nodeId, 'fetch', { flock, keys: [[bucket, '']] }), 'GREX_ERR_KEY_INVALID'],
      [b.cluster.request(a.nodeId, 'fetch', { flock, keys: [['', 'count']] }), 'GREX_ERR_KEY_INVALID'],
    ];
    for (const [sent, code] of refused) assert.equal((await rejection(sent)).code, code);
    // A valid fetch still answers, and jobs go on.
    const { records } = await b.cluster.request(a.nodeId, 'fetch', { flock, keys: [[bucket, 'count']] });
    assert.equal(records.length, 1);
    assert.deepEqual((await a.submit(bucket, 'counter')).result, { count: 2 });
  });
});
