// Authenticated bleet connections over real WebSockets (ws and wss) with the
// pre-authentication frame guard: peers with the secret authenticate and then
// send frames far larger than a handshake frame; a stranger whose first frame
// declares 8 MiB is cut off at its header (whether it sends the whole frame or
// just the start of it and waits), with the guard's reason in the log — not
// after reading the frame (the handshake's own size check) and not at the
// handshake timeout; a dialer meeting a listener that sends a large frame
// first gives up the same way. The listener goes on accepting peers.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { AuthenticatedTransport } from '../../src/cluster/authenticated-transport.js';
import { HANDSHAKE_FRAMES, MAX_AUTH_FRAME_BYTES } from '../../src/cluster/bleet-auth.js';
import type { FrameSocket } from '../../src/cluster/transport.js';
import { WsTransport, type WsTlsOptions } from '../../src/cluster/ws-transport.js';
import { selfSignedCert } from '../helpers/tls-certs.js';
import { waitFor } from '../helpers/wait-for.js';

const SECRET = 'ws-pre-auth-test-secret-0123456789';
const MIB = 1024 * 1024;
const PRE_AUTH = { frames: HANDSHAKE_FRAMES, maxFrameBytes: MAX_AUTH_FRAME_BYTES };

function recordingLogger(): { logger: pino.Logger; lines: { msg: string; code?: string; direction?: string }[] } {
  const lines: { msg: string; code?: string; direction?: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), lines };
}

function authenticatedWs(t: TestContext, selfId: string, tls?: WsTlsOptions) {
  const { logger, lines } = recordingLogger();
  const ws = new WsTransport({ host: '127.0.0.1', port: 0, maxFrameBytes: 64 * MIB, preAuth: PRE_AUTH, ...(tls === undefined ? {} : { tls }) });
  const transport = new AuthenticatedTransport(ws, { secret: SECRET, selfId, logger });
  t.after(() => transport.close());
  return { transport, lines };
}

/** A listening authenticated transport; its accepted sockets and log lines. */
async function listener(t: TestContext, tls?: WsTlsOptions) {
  const { transport, lines } = authenticatedWs(t, 'listener', tls);
  const accepted: FrameSocket[] = [];
  const url = await transport.listen((socket) => accepted.push(socket));
  return { url, accepted, lines };
}

function nextFrame(socket: FrameSocket): Promise<Uint8Array> {
  return new Promise((resolve) => socket.onFrame(resolve));
}

/** A raw TCP connection upgraded to a WebSocket by hand, so the test writes frame bytes itself. */
async function rawUpgrade(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  socket.write(
    'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${Buffer.alloc(16, 1).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let head = '';
  while (!head.includes('\r\n\r\n')) head += ((await once(socket, 'data')) as [Buffer])[0].toString('latin1');
  assert.match(head, /^HTTP\/1\.1 101 /);
  return socket;
}

/** The header of a masked binary frame that declares `length` payload bytes. */
function frameHeader(length: number): Buffer {
  const header = Buffer.alloc(14);
  header[0] = 0x82;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  header.writeUInt32BE(0x01020304, 10);
  return header;
}

const refusedBy = (lines: { msg: string }[], pattern: RegExp) => lines.some((l) => pattern.test(l.msg));
const GUARD_REASON = /^bleet connection refused: closed during authentication: a frame of 8388608 bytes \(at most 512 are read from a peer that is not authenticated\) before authentication$/;

for (const secure of [false, true]) {
  describe(`bleet connections over ${secure ? 'wss' : 'ws'} with a secret`, () => {
    test('peers authenticate, then frames far larger than a handshake frame pass both ways', async (t) => {
      let tls: WsTlsOptions | undefined;
      if (secure) {
        const cert = await selfSignedCert(t);
        const [key, pem] = await Promise.all([readFile(cert.key), readFile(cert.cert)]);
        tls = { key, cert: pem, ca: pem };
      }
      const server = await listener(t, tls);
      const { transport: dialer } = authenticatedWs(t, 'dialer', tls);
      const socket = await dialer.dial(server.url);
      assert.equal(socket.authenticatedAs, 'listener');
      await waitFor(() => server.accepted[0], { what: 'the listener to accept the dialer' });
      const accepted = server.accepted[0]!;
      assert.equal(accepted.authenticatedAs, 'dialer');
      const big = new Uint8Array(MIB).fill(5);
      const atListener = nextFrame(accepted);
      socket.send(big);
      assert.equal((await atListener).byteLength, MIB);
      const atDialer = nextFrame(socket);
      accepted.send(big);
      assert.equal((await atDialer).byteLength, MIB);
      assert.deepEqual(server.lines, [], 'nothing refused');
    });
  });
}

describe('a stranger on the bleet port', () => {
  test('whose first frame declares 8 MiB and who waits after 64 KiB of it is cut off at the header', async (t) => {
    const server = await listener(t);
    const rogue = await rawUpgrade(server.url);
    t.after(() => rogue.destroy());
    // Cut off with unread bytes in flight: a reset (ECONNRESET, as Node 24 reports it) or a close.
    const closed = new Promise((resolve) => rogue.once('close', resolve));
    rogue.on('error', () => {});
    rogue.write(Buffer.concat([frameHeader(8 * MIB), Buffer.alloc(64 * 1024)]));
    await closed; // without the guard, ws would wait for the rest of the frame until the handshake timeout
    await waitFor(() => refusedBy(server.lines, GUARD_REASON), { what: 'the guard’s refusal in the log' });
    assert.ok(!refusedBy(server.lines, /no authentication within/), 'not the handshake timeout');
  });

  test('who sends a whole 8 MiB frame first is refused by the guard, not after the frame was read; peers still connect', async (t) => {
    const server = await listener(t);
    const rogue = new WebSocket(server.url);
    rogue.on('error', () => {});
    await once(rogue, 'open');
    const closed = once(rogue, 'close');
    rogue.send(Buffer.alloc(8 * MIB, 1));
    await closed;
    await waitFor(() => refusedBy(server.lines, GUARD_REASON), { what: 'the guard’s refusal in the log' });
    assert.ok(!refusedBy(server.lines, /byte frame during authentication/), 'the frame never reached the handshake');
    const { transport: dialer } = authenticatedWs(t, 'dialer');
    assert.equal((await dialer.dial(server.url)).authenticatedAs, 'listener');
  });

  test('a dialer whose listener sends an 8 MiB frame first gives up at its header', async (t) => {
    const rogueServer = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    t.after(() => new Promise<void>((resolve) => rogueServer.close(() => resolve())));
    await once(rogueServer, 'listening');
    rogueServer.on('connection', (ws) => ws.send(Buffer.alloc(8 * MIB, 1)));
    const { transport: dialer, lines } = authenticatedWs(t, 'dialer');
    const { port } = rogueServer.address() as { port: number };
    await assert.rejects(dialer.dial(`ws://127.0.0.1:${port}`), /a frame of 8388608 bytes \(at most 512 .*\) before authentication/);
    assert.ok(lines.some((l) => l.direction === 'outgoing' && l.code === 'GREX_ERR_BLEET_AUTH'));
  });
});
