// The in-memory transport (src/cluster/memory-transport.ts): frames arrive in
// order and only after send returns, partitions close sockets and refuse dials
// until healed, close handlers run even when added after the close, and frames
// that arrive before onFrame is set are kept for it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryNetwork, MemoryTransport } from '../../../src/cluster/memory-transport.js';
import type { FrameSocket } from '../../../src/cluster/transport.js';
import { waitFor } from '../../helpers/wait-for.js';

/** A dialled socket and the server side of it (which sets no frame handler until told). */
async function connected(network = new MemoryNetwork()) {
  const client = new MemoryTransport(network);
  const server = new MemoryTransport(network);
  const accepted: FrameSocket[] = [];
  await server.listen((socket) => accepted.push(socket));
  const socket = await client.dial(server.url);
  const other = await waitFor(() => accepted[0], { what: 'the server to accept' });
  return { network, client, server, socket, other, accepted };
}

const frame = (n: number) => Uint8Array.of(n, n + 1, n + 2);

describe('MemoryTransport', () => {
  test('frames arrive whole, in order, and only after send returned', async () => {
    const { socket, other } = await connected();
    const received: number[][] = [];
    other.onFrame((bytes) => received.push([...bytes]));
    for (let n = 0; n < 100; n++) assert.equal(socket.send(frame(n)), true);
    assert.deepEqual(received, [], 'delivery is asynchronous');
    await waitFor(() => received.length === 100, { what: 'all frames' });
    assert.deepEqual(
      received,
      Array.from({ length: 100 }, (_, n) => [...frame(n)]),
    );
    socket.close('done');
  });

  test('a sent frame is a copy: changing the buffer after send changes nothing', async () => {
    const { socket, other } = await connected();
    const received: number[][] = [];
    other.onFrame((bytes) => received.push([...bytes]));
    const buffer = frame(1);
    socket.send(buffer);
    buffer[0] = 99;
    await waitFor(() => received.length === 1);
    assert.deepEqual(received, [[1, 2, 3]]);
  });

  test('bufferedBytes counts the frames not yet delivered', async () => {
    const { socket, other } = await connected();
    other.onFrame(() => {});
    socket.send(new Uint8Array(10));
    socket.send(new Uint8Array(5));
    assert.equal(socket.bufferedBytes, 15);
    await waitFor(() => socket.bufferedBytes === 0, { what: 'the queue to drain' });
  });

  test('frames sent before onFrame is set are delivered once it is', async () => {
    const { socket, other } = await connected();
    socket.send(frame(1));
    socket.send(frame(2));
    await waitFor(() => socket.bufferedBytes === 0, { what: 'the frames to reach the other side' });
    const received: number[][] = [];
    other.onFrame((bytes) => received.push([...bytes]));
    assert.deepEqual(received, [[...frame(1)], [...frame(2)]]);
    socket.send(frame(3));
    await waitFor(() => received.length === 3);
    assert.deepEqual(received[2], [...frame(3)]);
  });

  test('both ends learn of a close; onClose handlers added after the close still run', async () => {
    const { socket, other } = await connected();
    const reasons: string[] = [];
    socket.onClose((reason) => reasons.push(`local: ${reason}`));
    other.onClose((reason) => reasons.push(`remote: ${reason}`));
    socket.close('bye');
    assert.deepEqual(reasons, ['local: bye']);
    await waitFor(() => reasons.length === 2, { what: 'the other end to close' });
    assert.match(reasons[1]!, /^remote: .*bye/);
    const late: string[] = [];
    socket.onClose((reason) => late.push(reason));
    other.onClose((reason) => late.push(reason));
    assert.equal(late.length, 2);
    assert.equal(late[0], 'bye');
    assert.equal(socket.send(frame(1)), false);
    assert.equal(other.send(frame(1)), false);
    socket.close('again'); // closing twice is harmless
    assert.equal(reasons.length, 2);
  });

  test('a partition closes open sockets and refuses new dials with ECONNREFUSED; heal allows dialing again', async () => {
    const { network, client, server, socket, other, accepted } = await connected();
    await client.listen(() => {}); // so that dials the other way are refused by the cut, not for want of a listener
    const closes: string[] = [];
    socket.onClose((reason) => closes.push(reason));
    other.onClose((reason) => closes.push(reason));
    network.partition(client.url, server.url);
    await waitFor(() => closes.length === 2, { what: 'both ends to close' });
    assert.ok(closes.every((reason) => /partitioned/.test(reason)), closes.join('; '));
    assert.equal(network.isCut(server.url, client.url), true);
    await assert.rejects(client.dial(server.url), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'ECONNREFUSED');
      return true;
    });
    await assert.rejects(server.dial(client.url), { code: 'ECONNREFUSED' }, 'the cut goes both ways');

    network.heal(server.url, client.url);
    assert.equal(network.isCut(client.url, server.url), false);
    const again = await client.dial(server.url);
    await waitFor(() => accepted.length === 2, { what: 'the new connection' });
    const received: number[][] = [];
    accepted[1]!.onFrame((bytes) => received.push([...bytes]));
    again.send(frame(7));
    await waitFor(() => received.length === 1);
    assert.deepEqual(received, [[...frame(7)]]);
    again.close('done');
    (await server.dial(client.url)).close('done');
  });

  test('a partition leaves the links between other nodes alone', async () => {
    const network = new MemoryNetwork();
    const a = new MemoryTransport(network);
    const b = new MemoryTransport(network);
    const c = new MemoryTransport(network);
    await b.listen(() => {});
    await c.listen(() => {});
    const ab = await a.dial(b.url);
    const ac = await a.dial(c.url);
    let abClosed = false;
    ab.onClose(() => (abClosed = true));
    network.partition(a.url, c.url);
    await assert.rejects(a.dial(c.url), { code: 'ECONNREFUSED' });
    assert.equal(ac.send(frame(1)), false);
    assert.equal(ab.send(frame(1)), true);
    assert.equal(abClosed, false);
    ab.close('done');
  });

  test('dialing an address nobody listens on is refused', async () => {
    const network = new MemoryNetwork();
    const a = new MemoryTransport(network);
    await assert.rejects(a.dial(network.newAddress()), { code: 'ECONNREFUSED' });
  });

  test('closing a transport closes its sockets and refuses new dials', async () => {
    const { client, server, socket } = await connected();
    let reason: string | null = null;
    socket.onClose((r) => (reason = r));
    await server.close();
    await waitFor(() => reason !== null, { what: 'the socket to close' });
    await assert.rejects(client.dial(server.url), { code: 'ECONNREFUSED' });
  });
});
