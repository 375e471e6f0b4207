// A flock transfer is throttled (transferMbps), shows its progress in
// GET /cluster, and when the receiving node is killed mid-way it resumes
// where it stopped after a restart instead of copying everything again.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flockOf } from '../../src/keys.js';
import { requestJson } from '../helpers/http.js';
import { waitFor } from '../helpers/wait-for.js';
import { clusterView, herding, startDataNode, waitForFarm } from '../helpers/rebalance.js';

const ITEMS = 160;
const ITEM_BYTES = 32 * 1024;

describe('flock transfers', () => {
  test('a transfer cut by a crash resumes where it stopped', async (t) => {
    const extra = ['--replicas', '2'];
    const a = await startDataNode(t, 'a', null, extra);
    // 160 items of 32 KiB (5 MiB) on a alone.
    const payload = new Uint8Array(ITEM_BYTES).fill(7);
    for (let i = 0; i < ITEMS; i++) {
      const put = await fetch(`${a.proc.url}/buckets/big-${i}/items/blob`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: payload });
      assert.equal(put.status, 200);
    }
    const total = ITEMS * ITEM_BYTES;

    // b joins copying at 1 MiB/s: about five seconds for everything.
    const b1 = await startDataNode(t, 'b', a, [...extra, '--transfer-mbps', '1']);
    const during = await waitFor(
      async () => {
        const v = await clusterView(b1);
        return v.counters.transferBytes >= total / 4 && v.transfers.length > 0 && v;
      },
      { what: 'b to copy a quarter', timeoutMs: 60_000, intervalMs: 50 },
    );
    const progress = during.transfers[0]!;
    assert.equal(progress.source, 'a');
    assert.ok(progress.pages >= 1 && progress.bytes > 0, JSON.stringify(progress));
    await b1.proc.stop('SIGKILL');
    // Everything b stored before the crash is durable; what it copied is at least that.
    const copiedBefore = during.counters.transferBytes;

    const b2 = await startDataNode(t, 'b', a, [...extra, '--transfer-mbps', '64'], b1.data);
    await waitForFarm([a, b2], 'b to herd every flock');
    const after = await clusterView(b2);
    assert.ok(after.counters.transferBytes > 0, 'b copied the rest');
    // Resumed: after the restart it copied what was missing, not everything again (the slack:
    // items on their way when it was killed, at most a few per flock being copied).
    assert.ok(
      after.counters.transferBytes <= total - copiedBefore + 16 * ITEM_BYTES,
      `copied ${after.counters.transferBytes} bytes after the restart; ${copiedBefore} of ${total} were copied before`,
    );
    // Every item is on b, whole.
    const flocks = herding(after);
    for (let i = 0; i < ITEMS; i += 17) {
      assert.ok(flocks.has(flockOf(`big-${i}`, 1024)));
      const local = await fetch(`${b2.proc.url}/buckets/big-${i}/items/blob?local=true`);
      assert.equal(local.status, 200);
      assert.deepEqual(new Uint8Array(await local.arrayBuffer()), payload);
    }
    assert.equal((await requestJson(`${b2.proc.url}/cluster`)).body.transfers.length, 0, 'no transfer left');
  });
});
