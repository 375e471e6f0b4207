// Authenticated connections (src/cluster/authenticated-transport.ts) over the
// in-memory transport, with bleet links on top: peers with the secret talk;
// a rogue socket that skips the handshake, one that replays a recorded
// handshake, a peer with a wrong secret or none, one that says hello under
// another id than it proved, and one that never finishes are closed with
// GREX_ERR_BLEET_AUTH and a log line, without any of their frames reaching a
// link; the listener goes on accepting.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { BleetHandshake, decodeAuthFrame } from '../../../src/cluster/bleet-auth.js';
import { BleetLink, type LinkHandlers } from '../../../src/cluster/bleet-link.js';
import { AuthenticatedTransport, authenticate } from '../../../src/cluster/authenticated-transport.js';
import { BLEET_PROTOCOL, decodeFrame, encodeFrame, type BleetMethod } from '../../../src/cluster/bleet-messages.js';
import { MemoryNetwork, MemoryTransport } from '../../../src/cluster/memory-transport.js';
import type { MemberInfo } from '../../../src/cluster/membership.js';
import { FrameSocketBase, messagesOf, type FrameSocket } from '../../../src/cluster/transport.js';
import { GrexError } from '../../../src/errors.js';
import { waitFor } from '../../helpers/wait-for.js';

const FLOCKS = 64;
const SECRET = 'the cluster secret of this test';

function member(nodeId: string): MemberInfo {
  return { nodeId, httpUrl: `http://${nodeId}`, bleetUrl: `mem://${nodeId}`, herd: true, incarnation: 1 };
}

/** A pino logger whose lines the test can read. */
function recordingLogger(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines: () => lines };
}

/** Link handlers that record hellos and requests, and answer `members`. */
class Recorder {
  readonly hellos: string[] = [];
  readonly requests: BleetMethod[] = [];
  readonly problems: GrexError[] = [];
  readonly handlers: LinkHandlers = {
    onHello: (_link, peer) => void this.hellos.push(peer.nodeId),
    onPing: () => {},
    onRequest: async (_link, method) => {
      this.requests.push(method);
      return { version: 7, members: [] } as never;
    },
    onClose: () => {},
    onProblem: (_link, error) => void this.problems.push(error),
  };
}

/** A listening node with the secret: every accepted socket gets a bleet link. */
async function listener(network: MemoryNetwork, options: { secret?: string; timeoutMs?: number; maxPending?: number } = {}) {
  const log = recordingLogger();
  const plain = new MemoryTransport(network);
  const transport = new AuthenticatedTransport(plain, { secret: options.secret ?? SECRET, selfId: 'server', logger: log.logger, ...options });
  const recorder = new Recorder();
  const links: BleetLink[] = [];
  const sockets: FrameSocket[] = [];
  const url = await transport.listen((socket) => {
    sockets.push(socket);
    links.push(new BleetLink(socket, { self: member('server'), flocks: FLOCKS, handlers: recorder.handlers }));
  });
  return { url, transport, recorder, links, sockets, log };
}

/** A raw socket dialled without authentication: the test speaks frames itself. */
async function raw(network: MemoryNetwork, url: string) {
  const socket = await new MemoryTransport(network).dial(url);
  const received: Uint8Array[] = [];
  const closed: string[] = [];
  socket.onFrame((bytes) => received.push(bytes));
  socket.onClose((reason) => closed.push(reason));
  return { socket, received, closed };
}

function refusals(lines: Record<string, unknown>[]): Record<string, unknown>[] {
  return lines.filter((l) => l.code === 'GREX_ERR_BLEET_AUTH');
}

function authError(err: unknown): true {
  assert.ok(err instanceof GrexError, `expected a GrexError, got ${String(err)}`);
  assert.equal(err.code, 'GREX_ERR_BLEET_AUTH', err.message);
  return true;
}

const helloFrame = (nodeId: string) => encodeFrame({ t: 'hello', proto: BLEET_PROTOCOL, flocks: FLOCKS, member: member(nodeId) });

/** A socket the test drives by hand: frames it is sent are recorded, frames from the peer are pushed in. */
class HandSocket extends FrameSocketBase {
  readonly remote = 'hand';
  readonly bufferedBytes = 0;
  readonly sent: Uint8Array[] = [];
  send(frame: Uint8Array): boolean {
    if (this.isClosed) return false;
    this.sent.push(frame);
    return true;
  }
  push(frame: Uint8Array): void {
    this.receive(frame);
  }
  close(reason: string): void {
    this.markClosed(reason);
  }
}

describe('authenticate', () => {
  test('a challenge that arrived before the handshake started is answered after this end’s own challenge', async () => {
    const socket = new HandSocket();
    const peer = new BleetHandshake({ secret: SECRET, selfId: 'client', role: 'dialer' });
    socket.push(peer.challenge()); // already waiting when authenticate begins
    const done = authenticate(socket, { secret: SECRET, selfId: 'server', role: 'listener', timeoutMs: 5000 });
    assert.deepEqual(
      socket.sent.map((f) => decodeAuthFrame(f).t),
      ['challenge', 'proof'],
    );
    const proof = peer.receive(socket.sent[0]!).send!;
    assert.deepEqual(peer.receive(socket.sent[1]!), { authenticated: 'server' });
    socket.push(proof);
    assert.equal((await done).authenticatedAs, 'client');
  });
});

describe('AuthenticatedTransport', () => {
  test('peers with the same secret authenticate, say hello and exchange requests', async () => {
    const network = new MemoryNetwork();
    const server = await listener(network);
    const dialer = new AuthenticatedTransport(new MemoryTransport(network), { secret: SECRET, selfId: 'client', logger: recordingLogger().logger });
    const socket = await dialer.dial(server.url);
    assert.equal(socket.authenticatedAs, 'server');
    const client = new BleetLink(socket, { self: member('client'), flocks: FLOCKS, handlers: new Recorder().handlers });
    await waitFor(() => client.ready && server.links[0]?.ready, { what: 'both links to be ready' });
    assert.equal(server.sockets[0]!.authenticatedAs, 'client');
    assert.deepEqual(await client.request('members', {}, 5000), { version: 7, members: [] });
    assert.deepEqual(server.recorder.hellos, ['client']);
    assert.deepEqual(server.recorder.requests, ['members']);
    assert.deepEqual(refusals(server.log.lines()), []);
    client.close('done');
  });

  test('a rogue socket that sends hello and a request without authenticating is closed; no frame reaches a link', async () => {
    const network = new MemoryNetwork();
    const server = await listener(network);
    const rogue = await raw(network, server.url);
    rogue.socket.send(helloFrame('rogue'));
    rogue.socket.send(encodeFrame({ t: 'req', id: 1, m: 'job', ttl: 1000, b: { bucketKey: 'b', jobName: 'counter', data: null, dataEncoding: 'json', resultEncoding: 'json' } }));
    await waitFor(() => rogue.closed.length > 0, { what: 'the rogue socket to be closed' });
    assert.match(rogue.closed[0]!, /GREX_ERR_BLEET_AUTH/);
    assert.equal(rogue.received.length, 1, 'the rogue got only the challenge');
    assert.equal(decodeAuthFrame(rogue.received[0]!).t, 'challenge');
    assert.equal(server.links.length, 0, 'no link was made');
    assert.deepEqual(server.recorder.hellos, []);
    assert.deepEqual(server.recorder.requests, []);
    const logged = refusals(server.log.lines());
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.level, 40, 'a warning');
    assert.match(String(logged[0]!.msg), /bleet connection refused: a "hello" frame before authenticating/);
    assert.equal(server.transport.refused, 1);
    // The listener still takes peers that know the secret.
    const dialer = new AuthenticatedTransport(new MemoryTransport(network), { secret: SECRET, selfId: 'client', logger: recordingLogger().logger });
    assert.equal((await dialer.dial(server.url)).authenticatedAs, 'server');
  });

  test('a handshake recorded from a legitimate connection and replayed is refused', async () => {
    const network = new MemoryNetwork();
    const server = await listener(network);
    // A legitimate dialer whose frames are recorded on the way out.
    const legit = await new MemoryTransport(network).dial(server.url);
    const recorded: Uint8Array[] = [];
    const recording: FrameSocket = {
      send: (frame) => (recorded.push(...messagesOf(frame).map((m) => new Uint8Array(m))), legit.send(frame)),
      get bufferedBytes() {
        return legit.bufferedBytes;
      },
      onFrame: (h) => legit.onFrame(h),
      onClose: (h) => legit.onClose(h),
      close: (reason) => legit.close(reason),
      remote: legit.remote,
    };
    const socket = await authenticate(recording, { secret: SECRET, selfId: 'client', role: 'dialer', timeoutMs: 5000 });
    assert.equal(socket.authenticatedAs, 'server');
    assert.equal(recorded.length, 2, 'challenge and proof');
    await waitFor(() => server.sockets.length === 1, { what: 'the legitimate connection to be accepted' });
    // The same bytes on a new connection, then a hello and a request.
    const replay = await raw(network, server.url);
    for (const frame of recorded) replay.socket.send(frame);
    replay.socket.send(helloFrame('client'));
    replay.socket.send(encodeFrame({ t: 'req', id: 1, m: 'members', ttl: 1000, b: {} }));
    await waitFor(() => replay.closed.length > 0, { what: 'the replaying socket to be closed' });
    assert.match(replay.closed[0]!, /GREX_ERR_BLEET_AUTH/);
    assert.equal(server.sockets.length, 1, 'only the legitimate connection was accepted');
    assert.deepEqual(server.recorder.requests, []);
    assert.match(String(refusals(server.log.lines())[0]!.msg), /client does not know the cluster secret/);
  });

  test('a dialer with a wrong secret is refused at both ends', async () => {
    const network = new MemoryNetwork();
    const server = await listener(network);
    const wrong = recordingLogger();
    const dialer = new AuthenticatedTransport(new MemoryTransport(network), { secret: 'not the secret of the cluster', selfId: 'intruder', logger: wrong.logger });
    await assert.rejects(dialer.dial(server.url), authError);
    await waitFor(() => refusals(server.log.lines()).length === 1, { what: 'the listener to log the refusal' });
    assert.equal(refusals(wrong.lines()).length, 1, 'the dialer logs it too');
    assert.equal(server.links.length, 0);
  });

  test('a node without a secret cannot talk to one with it, either way', async () => {
    const network = new MemoryNetwork();
    const server = await listener(network);
    // Without a secret, the plain link sends hello at once: refused by the listener.
    const plainSide = new Recorder();
    const plain = new BleetLink(await new MemoryTransport(network).dial(server.url), { self: member('plain'), flocks: FLOCKS, handlers: plainSide.handlers });
    assert.match(await plain.whenClosed, /GREX_ERR_BLEET_AUTH|authenticate first/);
    assert.equal(plain.ready, false);
    assert.equal(server.links.length, 0);
    // A node with the secret dialling one without: refused; the plain node never takes it as a peer.
    const plainServerSide = new Recorder();
    const plainServer = new MemoryTransport(network);
    const plainLinks: BleetLink[] = [];
    await plainServer.listen((socket) => void plainLinks.push(new BleetLink(socket, { self: member('plain-server'), flocks: FLOCKS, handlers: plainServerSide.handlers })));
    const dialer = new AuthenticatedTransport(new MemoryTransport(network), { secret: SECRET, selfId: 'client', logger: recordingLogger().logger });
    await assert.rejects(dialer.dial(plainServer.url), authError);
    await plainLinks[0]!.whenClosed;
    assert.deepEqual(plainServerSide.hellos, []);
    // A challenge that does reach a node without a secret is refused with a hint.
    const challenger = await raw(network, plainServer.url);
    challenger.socket.send(new BleetHandshake({ secret: SECRET, selfId: 'client', role: 'dialer' }).challenge());
    await waitFor(() => plainServerSide.problems.length > 0, { what: 'the plain node to refuse the challenge' });
    assert.equal(plainServerSide.problems[0]!.code, 'GREX_ERR_BLEET_INVALID');
    assert.match(plainServerSide.problems[0]!.message, /has a cluster secret \(option secret\) and this node has none/);
  });

  test('a peer that proved one node id and says hello as another is refused by the link', async () => {
    const network = new MemoryNetwork();
    const server = await listener(network);
    const dialled = await raw(network, server.url);
    const handshake = new BleetHandshake({ secret: SECRET, selfId: 'node-a', role: 'dialer' });
    dialled.socket.onFrame((bytes) => {
      if (handshake.state === 'done') return;
      const step = handshake.receive(bytes);
      if (step.send !== undefined) dialled.socket.send(step.send);
      if (step.authenticated !== undefined) dialled.socket.send(helloFrame('node-b'));
    });
    dialled.socket.send(handshake.challenge());
    await waitFor(() => dialled.closed.length > 0, { what: 'the socket to be closed' });
    assert.equal(handshake.state, 'done', 'it did authenticate');
    assert.deepEqual(server.recorder.hellos, [], 'its hello was refused');
    await waitFor(() => server.links[0]?.closed, { what: 'the link to close' });
  });

  test('a socket that never finishes the handshake is closed after the timeout', async () => {
    const network = new MemoryNetwork();
    const server = await listener(network, { timeoutMs: 100 });
    const silent = await raw(network, server.url);
    await waitFor(() => silent.closed.length > 0, { what: 'the silent socket to be closed' });
    assert.match(silent.closed[0]!, /GREX_ERR_BLEET_AUTH: no authentication within 100 ms/);
    assert.equal(server.links.length, 0);
  });

  test('beyond maxPending handshakes, new connections are closed at once', async () => {
    const network = new MemoryNetwork();
    const server = await listener(network, { maxPending: 2 });
    const first = await raw(network, server.url);
    const second = await raw(network, server.url);
    await waitFor(() => first.received.length === 1 && second.received.length === 1, { what: 'two challenges' });
    const third = await raw(network, server.url);
    await waitFor(() => third.closed.length > 0, { what: 'the third socket to be closed' });
    assert.match(third.closed[0]!, /2 connections are already authenticating/);
    assert.deepEqual([first.closed, second.closed], [[], []]);
    // Once the pending ones are gone, new connections are taken again.
    first.socket.close('bye');
    second.socket.close('bye');
    await waitFor(() => refusals(server.log.lines()).length === 3, { what: 'both to be given up' });
    const dialer = new AuthenticatedTransport(new MemoryTransport(network), { secret: SECRET, selfId: 'client', logger: recordingLogger().logger });
    assert.equal((await dialer.dial(server.url)).authenticatedAs, 'server');
  });

  test('frames that follow the proof at once are passed on in order', async () => {
    const network = new MemoryNetwork();
    const server = await listener(network);
    const dialled = await raw(network, server.url);
    const handshake = new BleetHandshake({ secret: SECRET, selfId: 'client', role: 'dialer' });
    const answers: unknown[] = [];
    dialled.socket.onFrame((bytes) => {
      if (handshake.state !== 'done') {
        const step = handshake.receive(bytes);
        if (step.send !== undefined) {
          // The proof, then at once a hello and a request, in one go.
          dialled.socket.send(step.send);
          dialled.socket.send(helloFrame('client'));
          dialled.socket.send(encodeFrame({ t: 'req', id: 1, m: 'members', ttl: 1000, b: {} }));
        }
        return;
      }
      answers.push(decodeFrame(bytes));
    });
    dialled.socket.send(handshake.challenge());
    await waitFor(() => answers.some((a) => (a as { t: string }).t === 'res'), { what: 'the answer to the request' });
    assert.deepEqual(server.recorder.hellos, ['client']);
    assert.deepEqual(server.recorder.requests, ['members']);
  });
});
