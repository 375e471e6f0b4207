// Three real node processes on 127.0.0.1: jobs sent to any node run on the
// bucket's active node and every herder ends with the same version; GrexClient
// goes direct after its first answer; garbage on the bleet port is refused
// while the node keeps serving; one replica down is fine, two down is
// GREX_ERR_QUORUM with nothing acknowledged.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { GrexClient } from '../../src/client/grex-client.js';
import { postJob, requestJson } from '../helpers/http.js';
import { bucketActiveOn, localVersions, startProcessCluster, waitForInSync } from '../helpers/process-cluster.js';
import type { NodeProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';
import { suiteContext } from '../helpers/suite.js';

async function forwards(nodes: readonly NodeProcess[]): Promise<number> {
  const views = await Promise.all(nodes.map(async (n) => (await requestJson(`${n.url}/cluster`)).body));
  return views.reduce((sum, v) => sum + v.counters.jobsForwarded, 0);
}

describe('a three-node cluster of real processes', () => {
  let nodes: NodeProcess[];
  const suite = suiteContext();

  before(async () => {
    nodes = await startProcessCluster(suite, ['node-a', 'node-b', 'node-c']);
  });

  test('counter jobs sent to each node run on one active node, the count has no gaps, every herder ends at the same version', async () => {
    const bucket = 'johndoe';
    const active = (await requestJson(`${nodes[0]!.url}/route/${bucket}`)).body.activeNode;
    let count = 0;
    for (let round = 0; round < 3; round++) {
      for (const node of nodes) {
        const answer = await postJob(node.url, bucket, 'counter');
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.deepEqual(answer.body, { result: { count: ++count }, activeNode: active });
        assert.equal(answer.headers.get('grex-active-node'), active);
        const version = (await requestJson(`${active}/buckets/${bucket}/items`)).body.items[0].version;
        await waitFor(async () => (await localVersions(nodes, bucket)).every((v) => v === version), { what: `every herder at ${version}` });
      }
    }
  });

  test('GrexClient stops causing forwards after its first answer for a flock', async () => {
    const client = new GrexClient([nodes[1]!.url, nodes[2]!.url]);
    const bucket = await bucketActiveOn(nodes[0]!, nodes[0]!, 'client');
    await client.submit(bucket, 'counter');
    const before = await forwards(nodes);
    for (let i = 0; i < 20; i++) {
      const { activeNode } = await client.submit(bucket, 'counter');
      assert.equal(activeNode, nodes[0]!.url);
    }
    assert.equal(await forwards(nodes), before);
  });

  test('a socket sending garbage to the bleet port is disconnected, and the node keeps serving', async () => {
    const target = nodes[1]!;
    const { hostname, port } = new URL(target.bleetUrl);
    // Not even a WebSocket handshake.
    const raw = connect({ host: hostname, port: Number(port) });
    await once(raw, 'connect');
    raw.write(Buffer.from('\x00\xffGARBAGE\r\n\r\n'.repeat(10)));
    raw.resume();
    await once(raw, 'close');
    // A WebSocket that speaks no bleets: text, then bytes that are not msgpack.
    for (const frame of ['hello?', Buffer.from([0xc1, 0x00, 0xff])]) {
      const ws = new WebSocket(target.bleetUrl);
      await once(ws, 'open');
      ws.send(frame);
      const [code] = (await once(ws, 'close')) as [number];
      assert.equal(code, 1008);
    }
    assert.equal((await requestJson(`${target.url}/health`)).status, 200);
    assert.equal((await postJob(target.url, 'still-serving', 'counter')).status, 200);
    assert.match(target.output(), /GREX_ERR_BLEET_INVALID/);
  });

  test('with one replica killed writes succeed; with two they fail with GREX_ERR_QUORUM and are not acknowledged', async () => {
    const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const bucket = await bucketActiveOn(a, a, 'quorum');
    assert.deepEqual((await postJob(a.url, bucket, 'counter')).body, { result: { count: 1 }, activeNode: a.url });
    await waitForInSync(a, bucket, ['node-b', 'node-c']);
    assert.equal(await b.stop('SIGKILL'), 'SIGKILL');
    assert.deepEqual((await postJob(a.url, bucket, 'counter')).body, { result: { count: 2 }, activeNode: a.url });
    assert.equal(await c.stop('SIGKILL'), 'SIGKILL');
    const refused = await postJob(a.url, bucket, 'counter');
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'GREX_ERR_QUORUM');
    assert.ok(refused.headers.get('retry-after') !== null);
  });
});
