// Appends across three real node processes (the example job customer-add, which
// uses ctx.append): every herder's own copy equals the active node's, byte for byte;
// a herder SIGKILLed while appends go on replays its log at restart, catches up,
// and then holds the same list again, with every acknowledged record once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { itemCodec } from '../../src/codec.js';
import { postJob } from '../helpers/http.js';
import { exampleJobs } from '../helpers/paths.js';
import { bucketActiveOn, startProcessCluster, waitForInSync, waitForSettled } from '../helpers/process-cluster.js';
import { startNodeProcess, type NodeProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

/** Each node's own copy of an item: `<version> <hex bytes>`, or null. */
async function localCopies(nodes: readonly NodeProcess[], bucket: string, item: string): Promise<(string | null)[]> {
  return Promise.all(
    nodes.map(async (n) => {
      const res = await fetch(`${n.url}/buckets/${bucket}/items/${item}?local=true`);
      const bytes = Buffer.from(await res.arrayBuffer());
      return res.status === 200 ? `${res.headers.get('grex-version')} ${bytes.toString('hex')}` : null;
    }),
  );
}

async function addOrder(node: NodeProcess, bucket: string, n: number): Promise<number> {
  const answer = await postJob(node.url, bucket, 'customer-add', { type: 'orders', record: { description: `order ${n}`, amount: n } });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.result.count as number;
}

describe('appends across real processes', () => {
  test('herders hold the active node\'s list; a herder killed mid-stream replays its log, catches up and holds it again', async (t) => {
    const nodes = await startProcessCluster(t, ['node-a', 'node-b', 'node-c'], () => []);
    const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const bucket = await bucketActiveOn(a, a, 'appends');
    let count = 0;
    for (let n = 1; n <= 10; n++) assert.equal(await addOrder(nodes[n % 3]!, bucket, n), ++count);
    await waitForInSync(a, bucket, ['node-b', 'node-c']);
    await waitFor(async () => new Set(await localCopies(nodes, bucket, 'orders')).size === 1, { what: 'every copy the same' });

    // b's data folder, to restart it on the same data after a SIGKILL.
    const bData = /"data":"([^"]+)"/.exec(b.output())?.[1];
    assert.ok(bData !== undefined, 'b logs its data folder');
    assert.equal(await b.stop('SIGKILL'), 'SIGKILL');
    for (let n = 11; n <= 20; n++) assert.equal(await addOrder(a, bucket, n), ++count);

    const catchUp = async (restarted: NodeProcess) => {
      const now = [a, restarted, c];
      assert.match(restarted.output(), /replayed the write-ahead log/, 'b replayed the appends in its log');
      await waitForSettled(now);
      for (let n = 21; n <= 30; n++) assert.equal(await addOrder(now[n % 3]!, bucket, n), ++count);
      await waitForInSync(a, bucket, ['node-b', 'node-c']);
      assert.equal(await addOrder(a, bucket, 31), ++count);
      await waitFor(async () => new Set(await localCopies(now, bucket, 'orders')).size === 1, { what: 'the restarted herder with the same list' });
      const res = await fetch(`${restarted.url}/buckets/${bucket}/items/orders?local=true`);
      const orders = itemCodec.unpack(Buffer.from(await res.arrayBuffer())) as { id: number; amount: number }[];
      assert.deepEqual(orders.map((o) => o.id), Array.from({ length: count }, (_, i) => i + 1));
      assert.deepEqual(orders.map((o) => o.amount), Array.from({ length: count }, (_, i) => i + 1));
    };
    const restarted = await startNodeProcess(t, [
      '--http', '127.0.0.1:0', '--bleet', '127.0.0.1:0', '--data', bData, '--jobs', exampleJobs,
      '--workers', '1', '--node-id', 'node-b', '--peers', a.bleetAddress,
    ]);
    // Cleanups run in the order registered: its data folder's would come before its own.
    try {
      await catchUp(restarted);
    } finally {
      await restarted.stop();
    }
  });
});

