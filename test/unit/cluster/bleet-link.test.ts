// Bleet links (src/cluster/bleet-link.ts) over an in-memory transport: the
// hello exchange, requests and error answers, deadlines, closing, cluster
// mismatches, invalid frames from a raw socket, the in-flight and serving
// limits, and invalid request and response bodies; bleets with attachments
// (large record payloads after their frame): assembled whole, refused when an
// attachment does not match its announcement or the whole passes maxBleetBytes,
// lost all or none by a lossy transport.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BleetLink, DEFAULT_LINK_LIMITS, type LinkHandlers, type LinkLimits } from '../../../src/cluster/bleet-link.js';
import { ATTACH_MIN_BYTES, BLEET_PROTOCOL, decodeFrame, encodeBleet, encodeFrame, type BleetMethod, type Frame } from '../../../src/cluster/bleet-messages.js';
import { MemoryNetwork, MemoryTransport } from '../../../src/cluster/memory-transport.js';
import type { MemberInfo } from '../../../src/cluster/membership.js';
import type { FrameSocket } from '../../../src/cluster/transport.js';
import { GrexError, type ErrorCode } from '../../../src/errors.js';
import { waitFor } from '../../helpers/wait-for.js';

const FLOCKS = 64;

function member(nodeId: string): MemberInfo {
  return { nodeId, httpUrl: `http://${nodeId}`, bleetUrl: `mem://${nodeId}`, herd: true, incarnation: 1 };
}

type Serve = (method: BleetMethod, body: unknown, ttlMs: number) => Promise<unknown>;

/** Link handlers that record what they are told; requests go to `serve`. */
class Recorder {
  readonly hellos: MemberInfo[] = [];
  readonly pings: [string, number][] = [];
  readonly problems: GrexError[] = [];
  readonly closes: string[] = [];
  readonly requests: { method: BleetMethod; body: unknown; ttlMs: number }[] = [];
  serve: Serve = async () => ({});
  refuseHello: Error | null = null;

  readonly handlers: LinkHandlers = {
    onHello: (_link, peer) => {
      this.hellos.push(peer);
      if (this.refuseHello !== null) throw this.refuseHello;
    },
    onPing: (_link, digest, version) => void this.pings.push([digest, version]),
    onRequest: (_link, method, body, ttlMs) => {
      this.requests.push({ method, body, ttlMs });
      return this.serve(method, body, ttlMs) as never;
    },
    onClose: (_link, reason) => void this.closes.push(reason),
    onProblem: (_link, error) => void this.problems.push(error),
  };
}

/** A promise the test settles, to hold a request in a handler. */
function gate<T = unknown>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

function grexError(code: ErrorCode) {
  return (err: unknown): true => {
    assert.ok(err instanceof GrexError, `expected a GrexError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

interface Pair {
  network: MemoryNetwork;
  client: BleetLink;
  server: BleetLink;
  clientSide: Recorder;
  serverSide: Recorder;
}

/** A client link dialled to a server link; resolves once both said hello (unless `ready: false`). */
async function pair(options: { clientLimits?: LinkLimits; serverLimits?: LinkLimits; serverFlocks?: number; ready?: boolean } = {}): Promise<Pair> {
  const network = new MemoryNetwork();
  const clientTransport = new MemoryTransport(network);
  const serverTransport = new MemoryTransport(network);
  const clientSide = new Recorder();
  const serverSide = new Recorder();
  let server: BleetLink | undefined;
  await serverTransport.listen((socket) => {
    server = new BleetLink(socket, { self: member('server'), flocks: options.serverFlocks ?? FLOCKS, handlers: serverSide.handlers, limits: options.serverLimits });
  });
  const socket = await clientTransport.dial(serverTransport.url);
  const client = new BleetLink(socket, { self: member('client'), flocks: FLOCKS, handlers: clientSide.handlers, limits: options.clientLimits });
  await waitFor(() => server, { what: 'the server to accept' });
  if (options.ready !== false) await waitFor(() => client.ready && server!.ready, { what: 'both links to be ready' });
  return { network, client, server: server!, clientSide, serverSide };
}

/** A raw socket dialled to a server link: the test speaks frames itself. */
async function rawToServer(serverFlocks = FLOCKS) {
  const network = new MemoryNetwork();
  const clientTransport = new MemoryTransport(network);
  const serverTransport = new MemoryTransport(network);
  const serverSide = new Recorder();
  let server: BleetLink | undefined;
  await serverTransport.listen((socket) => {
    server = new BleetLink(socket, { self: member('server'), flocks: serverFlocks, handlers: serverSide.handlers });
  });
  const socket: FrameSocket = await clientTransport.dial(serverTransport.url);
  const received: Frame[] = [];
  const closed: string[] = [];
  socket.onFrame((bytes) => received.push(decodeFrame(bytes)));
  socket.onClose((reason) => closed.push(reason));
  await waitFor(() => server, { what: 'the server to accept' });
  return { socket, server: server!, serverSide, received, closed };
}

const hello = (flocks = FLOCKS, proto = BLEET_PROTOCOL): Frame => ({ t: 'hello', proto, flocks, member: member('raw') });

describe('BleetLink', () => {
  test('the hello exchange makes both links ready with the peer member', async () => {
    const { client, server, clientSide, serverSide } = await pair();
    assert.deepEqual(client.peer, member('server'));
    assert.deepEqual(server.peer, member('client'));
    assert.deepEqual(clientSide.hellos, [member('server')]);
    assert.deepEqual(serverSide.hellos, [member('client')]);
    assert.deepEqual(clientSide.problems, []);
    assert.deepEqual(serverSide.problems, []);
    assert.equal(client.closed, false);
    client.close('done');
  });

  test('a request before the hello exchange fails with GREX_ERR_PEER_UNAVAILABLE', async () => {
    const network = new MemoryNetwork();
    const a = new MemoryTransport(network);
    const b = new MemoryTransport(network);
    const serverSide = new Recorder();
    serverSide.serve = async () => ({ version: 1, members: [] });
    let server: BleetLink | undefined;
    await b.listen((socket) => (server = new BleetLink(socket, { self: member('server'), flocks: FLOCKS, handlers: serverSide.handlers })));
    const client = new BleetLink(await a.dial(b.url), { self: member('client'), flocks: FLOCKS, handlers: new Recorder().handlers });
    assert.equal(client.ready, false, 'no hello can have arrived yet');
    await assert.rejects(client.request('members', {}, 1000), grexError('GREX_ERR_PEER_UNAVAILABLE'));
    await waitFor(() => client.ready && server?.ready, { what: 'both links to be ready' });
    assert.deepEqual(await client.request('members', {}, 5000), { version: 1, members: [] });
    assert.equal(serverSide.requests.length, 1, 'the refused request was never sent');
    client.close('done');
  });

  test("a request is answered by the peer's onRequest", async () => {
    const { client, serverSide } = await pair();
    serverSide.serve = async (method, body) => {
      assert.equal(method, 'replicate');
      return { applied: (body as { records: Uint8Array[] }).records.length, herding: true };
    };
    const answer = await client.request('replicate', { flock: 5, term: 1, records: [Uint8Array.of(1), Uint8Array.of(2)] }, 5000);
    assert.deepEqual(answer, { applied: 2, missing: [], herding: true });
    assert.equal(serverSide.requests.length, 1);
    assert.equal(serverSide.requests[0]!.ttlMs, 5000);
    assert.equal((serverSide.requests[0]!.body as { flock: number }).flock, 5);
    assert.equal(client.inFlight, 0);
    client.close('done');
  });

  test('many concurrent requests each get their own answer', async () => {
    const { client, serverSide } = await pair();
    serverSide.serve = async (_method, body) => ({ version: `1-${(body as { itemKey: string }).itemKey}` });
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.request('item.write', { bucketKey: 'b', itemKey: String(i), bytes: null, encoding: 'raw', ifMatch: null }, 5000)),
    );
    assert.deepEqual(
      answers.map((a) => a.version),
      Array.from({ length: 50 }, (_, i) => `1-${i}`),
    );
    client.close('done');
  });

  test('the handler errors arrive as GrexErrors with the same code, message and data', async () => {
    const { client, serverSide } = await pair();
    serverSide.serve = async () => {
      throw new GrexError('GREX_ERR_VERSION_CONFLICT', 'the item is at 2-7', { current: '2-7' });
    };
    await assert.rejects(client.request('item.get', { bucketKey: 'b', itemKey: 'i' }, 5000), (err: unknown) => {
      grexError('GREX_ERR_VERSION_CONFLICT')(err);
      assert.equal((err as GrexError).message, 'the item is at 2-7');
      assert.deepEqual((err as GrexError).data, { current: '2-7' });
      return true;
    });
    serverSide.serve = async () => {
      throw new TypeError('oops');
    };
    await assert.rejects(client.request('item.get', { bucketKey: 'b', itemKey: 'i' }, 5000), grexError('GREX_ERR_INTERNAL'));
    assert.equal(client.ready, true, 'error answers leave the link open');
    client.close('done');
  });

  test('a request the peer never answers fails with GREX_ERR_BLEET_TIMEOUT; a late answer is dropped', async () => {
    const { client, serverSide } = await pair();
    const held = gate();
    serverSide.serve = () => held.promise;
    await assert.rejects(client.request('replicate', { flock: 1, term: 1, records: [] }, 50), grexError('GREX_ERR_BLEET_TIMEOUT'));
    assert.equal(client.inFlight, 0);
    serverSide.serve = async () => ({ applied: 9, missing: [], herding: true });
    held.open({ applied: 1, missing: [], herding: true }); // the late answer to the first request
    assert.deepEqual(await client.request('replicate', { flock: 1, term: 1, records: [] }, 5000), { applied: 9, missing: [], herding: true });
    assert.equal(client.ready, true);
    client.close('done');
  });

  test('closing a link fails its pending requests with GREX_ERR_PEER_UNAVAILABLE', async () => {
    const { client, server, clientSide, serverSide } = await pair();
    serverSide.serve = () => new Promise(() => {});
    const pending = [client.request('members', {}, 60_000), client.request('members', {}, 60_000)];
    await waitFor(() => serverSide.requests.length === 2, { what: 'the requests to arrive' });
    client.close('going away');
    for (const request of pending) await assert.rejects(request, grexError('GREX_ERR_PEER_UNAVAILABLE'));
    assert.equal(client.closed, true);
    assert.equal(client.ready, false);
    assert.equal(client.inFlight, 0);
    assert.equal(await client.whenClosed, 'going away');
    assert.deepEqual(clientSide.closes, ['going away']);
    await server.whenClosed;
    assert.equal(serverSide.closes.length, 1);
    await assert.rejects(client.request('members', {}, 1000), grexError('GREX_ERR_PEER_UNAVAILABLE'));
  });

  test('the peer closing the link fails the pending requests with GREX_ERR_PEER_UNAVAILABLE', async () => {
    const { client, server, serverSide } = await pair();
    serverSide.serve = () => new Promise(() => {});
    const pending = client.request('members', {}, 60_000);
    await waitFor(() => serverSide.requests.length === 1, { what: 'the request to arrive' });
    server.close('server stopping');
    await assert.rejects(pending, grexError('GREX_ERR_PEER_UNAVAILABLE'));
    assert.equal(client.closed, true);
  });

  test('a hello with another number of flocks closes the link with GREX_ERR_CLUSTER_MISMATCH', async () => {
    const { client, server, clientSide, serverSide } = await pair({ serverFlocks: FLOCKS * 2, ready: false });
    await client.whenClosed;
    await server.whenClosed;
    assert.equal(client.ready, false);
    assert.equal(server.ready, false);
    const problems = [...clientSide.problems, ...serverSide.problems];
    assert.ok(problems.length > 0, 'no side reported the mismatch');
    // Whichever side reads the other's hello first refuses it (the other may never see a hello).
    for (const problem of problems) {
      grexError('GREX_ERR_CLUSTER_MISMATCH')(problem);
      assert.match(problem.message, new RegExp(`(${FLOCKS} flocks.*${FLOCKS * 2}|${FLOCKS * 2} flocks.*${FLOCKS})`));
    }
    assert.deepEqual([...clientSide.hellos, ...serverSide.hellos], [], 'onHello is not told of a refused hello');
  });

  test('a hello with another protocol version closes the link with GREX_ERR_CLUSTER_MISMATCH', async () => {
    const raw = await rawToServer();
    raw.socket.send(encodeFrame(hello(FLOCKS, BLEET_PROTOCOL + 1)));
    await raw.server.whenClosed;
    assert.equal(raw.serverSide.problems.length, 1);
    grexError('GREX_ERR_CLUSTER_MISMATCH')(raw.serverSide.problems[0]);
    await waitFor(() => raw.closed.length > 0, { what: 'the raw socket to close' });
  });

  test('a hello refused by onHello closes the link with that error', async () => {
    const network = new MemoryNetwork();
    const a = new MemoryTransport(network);
    const b = new MemoryTransport(network);
    const serverSide = new Recorder();
    serverSide.refuseHello = new GrexError('GREX_ERR_CLUSTER_MISMATCH', 'that is this node itself');
    let server: BleetLink | undefined;
    await b.listen((socket) => (server = new BleetLink(socket, { self: member('server'), flocks: FLOCKS, handlers: serverSide.handlers })));
    const client = new BleetLink(await a.dial(b.url), { self: member('client'), flocks: FLOCKS, handlers: new Recorder().handlers });
    await client.whenClosed;
    await waitFor(() => server?.closed, { what: 'the server link to close' });
    assert.equal(serverSide.problems.length, 1);
    assert.equal(serverSide.problems[0], serverSide.refuseHello);
    assert.equal(server!.peer, null);
  });

  test('a raw socket that sends garbage bytes is closed and onProblem sees GREX_ERR_BLEET_INVALID', async () => {
    const raw = await rawToServer();
    raw.socket.send(Uint8Array.of(0x92, 0x01)); // a truncated msgpack array
    await raw.server.whenClosed;
    assert.equal(raw.serverSide.problems.length, 1);
    grexError('GREX_ERR_BLEET_INVALID')(raw.serverSide.problems[0]);
    await waitFor(() => raw.closed.length > 0, { what: 'the raw socket to close' });
    assert.equal(raw.socket.send(encodeFrame(hello())), false, 'the raw socket is closed');
  });

  test('garbage after a valid hello still closes the link', async () => {
    const raw = await rawToServer();
    raw.socket.send(encodeFrame(hello()));
    await waitFor(() => raw.server.ready, { what: 'the server to take the hello' });
    raw.socket.send(encodeFrame({ t: 'ping', digest: 'x'.repeat(100), version: 1 } as Frame));
    await raw.server.whenClosed;
    grexError('GREX_ERR_BLEET_INVALID')(raw.serverSide.problems[0]);
    assert.deepEqual(raw.serverSide.pings, []);
  });

  test('a req before hello closes the link with GREX_ERR_BLEET_INVALID, unserved', async () => {
    const raw = await rawToServer();
    raw.socket.send(encodeFrame({ t: 'req', id: 1, m: 'members', ttl: 1000, b: {} }));
    await raw.server.whenClosed;
    assert.equal(raw.serverSide.problems.length, 1);
    grexError('GREX_ERR_BLEET_INVALID')(raw.serverSide.problems[0]);
    assert.match(raw.serverSide.problems[0]!.message, /before hello/);
    assert.deepEqual(raw.serverSide.requests, []);
  });

  test('a second hello closes the link with GREX_ERR_BLEET_INVALID', async () => {
    const raw = await rawToServer();
    raw.socket.send(encodeFrame(hello()));
    raw.socket.send(encodeFrame(hello()));
    await raw.server.whenClosed;
    assert.equal(raw.serverSide.problems.length, 1);
    grexError('GREX_ERR_BLEET_INVALID')(raw.serverSide.problems[0]);
    assert.match(raw.serverSide.problems[0]!.message, /hello twice/);
  });

  test('the server says hello first thing, and serves a raw client that said hello', async () => {
    const raw = await rawToServer();
    await waitFor(() => raw.received.length >= 1, { what: "the server's hello" });
    assert.deepEqual(raw.received[0], { t: 'hello', proto: BLEET_PROTOCOL, flocks: FLOCKS, member: member('server') });
    raw.serverSide.serve = async () => ({ version: 3, members: [] });
    raw.socket.send(encodeFrame(hello()));
    raw.socket.send(encodeFrame({ t: 'req', id: 41, m: 'members', ttl: 1000, b: {} }));
    await waitFor(() => raw.received.length >= 2, { what: 'the answer' });
    assert.deepEqual(raw.received[1], { t: 'res', id: 41, ok: true, b: { version: 3, members: [] } });
    raw.socket.close('done');
  });

  test('pings reach onPing once both said hello', async () => {
    const { client, serverSide } = await pair();
    client.ping('abcdef', 12);
    client.ping('012345', 13);
    await waitFor(() => serverSide.pings.length === 2, { what: 'the pings' });
    assert.deepEqual(serverSide.pings, [
      ['abcdef', 12],
      ['012345', 13],
    ]);
    client.close('done');
  });

  test('with maxInFlight requests waiting, a new request fails at once with GREX_ERR_OVERLOADED', async () => {
    const { client, serverSide } = await pair({ clientLimits: { ...DEFAULT_LINK_LIMITS, maxInFlight: 2 } });
    const held = gate();
    serverSide.serve = () => held.promise;
    const first = client.request('replicate', { flock: 1, term: 1, records: [] }, 60_000);
    const second = client.request('replicate', { flock: 2, term: 1, records: [] }, 60_000);
    assert.equal(client.inFlight, 2);
    await assert.rejects(client.request('replicate', { flock: 3, term: 1, records: [] }, 60_000), (err: unknown) => {
      grexError('GREX_ERR_OVERLOADED')(err);
      assert.deepEqual((err as GrexError).data, { retryAfterSeconds: 1 });
      return true;
    });
    assert.equal(client.inFlight, 2, 'the refused request was never sent');
    await waitFor(() => serverSide.requests.length === 2, { what: 'the two requests to arrive' });
    held.open({ applied: 4, missing: [], herding: true });
    assert.deepEqual(await first, { applied: 4, missing: [], herding: true });
    assert.deepEqual(await second, { applied: 4, missing: [], herding: true });
    assert.equal(serverSide.requests.length, 2);
    serverSide.serve = async () => ({ applied: 5, missing: [], herding: true });
    assert.deepEqual(await client.request('replicate', { flock: 3, term: 1, records: [] }, 60_000), { applied: 5, missing: [], herding: true }, 'room again once answered');
    client.close('done');
  });

  test("with maxServing requests being served, the peer's extra requests are answered GREX_ERR_OVERLOADED", async () => {
    const { client, serverSide } = await pair({ serverLimits: { ...DEFAULT_LINK_LIMITS, maxServing: 1 } });
    const held = gate();
    serverSide.serve = () => held.promise;
    const first = client.request('replicate', { flock: 1, term: 1, records: [] }, 60_000);
    const second = client.request('replicate', { flock: 2, term: 1, records: [] }, 60_000);
    await assert.rejects(second, (err: unknown) => {
      grexError('GREX_ERR_OVERLOADED')(err);
      assert.deepEqual((err as GrexError).data, { retryAfterSeconds: 1 });
      return true;
    });
    assert.equal(serverSide.requests.length, 1, 'the extra request never reached the handler');
    held.open({ applied: 1, missing: [], herding: true });
    assert.deepEqual(await first, { applied: 1, missing: [], herding: true });
    serverSide.serve = async () => ({ applied: 2, missing: [], herding: true });
    assert.deepEqual(await client.request('replicate', { flock: 2, term: 1, records: [] }, 60_000), { applied: 2, missing: [], herding: true }, 'served again once the first is done');
    assert.equal(client.ready, true);
    client.close('done');
  });

  test("with maxServingBytes of requests being served, the peer's further requests are answered GREX_ERR_OVERLOADED", async () => {
    const { client, serverSide } = await pair({ serverLimits: { ...DEFAULT_LINK_LIMITS, maxServingBytes: 64 * 1024 } });
    const held = gate();
    serverSide.serve = () => held.promise;
    const big = [new Uint8Array(48 * 1024)];
    // One request is served whatever its size; a second that would pass the byte limit is refused, a small one is not.
    const first = client.request('replicate', { flock: 1, term: 1, records: big }, 60_000);
    await waitFor(() => serverSide.requests.length === 1, { what: 'the first request to be served' });
    await assert.rejects(client.request('replicate', { flock: 2, term: 1, records: big }, 60_000), grexError('GREX_ERR_OVERLOADED'));
    const small = client.request('replicate', { flock: 3, term: 1, records: [] }, 60_000);
    await waitFor(() => serverSide.requests.length === 2, { what: 'the small request to be served' });
    held.open({ applied: 1, missing: [], herding: true });
    assert.deepEqual(await first, { applied: 1, missing: [], herding: true });
    assert.deepEqual(await small, { applied: 1, missing: [], herding: true });
    serverSide.serve = async () => ({ applied: 2, missing: [], herding: true });
    assert.deepEqual(await client.request('replicate', { flock: 2, term: 1, records: big }, 60_000), { applied: 2, missing: [], herding: true }, 'the bytes are free again once answered');
    client.close('done');
  });

  test('a failing handler frees its serving slot', async () => {
    const { client, serverSide } = await pair({ serverLimits: { ...DEFAULT_LINK_LIMITS, maxServing: 1 } });
    serverSide.serve = async () => {
      throw new GrexError('GREX_ERR_STORE_IO', 'disk');
    };
    for (let i = 0; i < 3; i++) await assert.rejects(client.request('replicate', { flock: 1, term: 1, records: [] }, 60_000), grexError('GREX_ERR_STORE_IO'));
    client.close('done');
  });

  test('an invalid response body fails the request and closes the link', async () => {
    const { client, server, clientSide, serverSide } = await pair();
    // item.get is held (to see it fail when the link closes); replicate answers a mistyped body.
    serverSide.serve = (method) => (method === 'replicate' ? Promise.resolve({ applied: 'many' }) : new Promise(() => {}));
    const pending = client.request('item.get', { bucketKey: 'b', itemKey: 'i' }, 60_000);
    await waitFor(() => serverSide.requests.length === 1, { what: 'the item.get to arrive' });
    await assert.rejects(client.request('replicate', { flock: 1, term: 1, records: [] }, 60_000), grexError('GREX_ERR_BLEET_INVALID'));
    await client.whenClosed;
    assert.equal(clientSide.problems.length, 1);
    grexError('GREX_ERR_BLEET_INVALID')(clientSide.problems[0]);
    await assert.rejects(pending, grexError('GREX_ERR_PEER_UNAVAILABLE'));
    await server.whenClosed;
  });

  test('an invalid request body closes the link and the request fails with GREX_ERR_PEER_UNAVAILABLE', async () => {
    const { client, server, serverSide } = await pair();
    const bad = client.request('replicate', { flock: -1, term: 1, records: [] }, 60_000);
    await server.whenClosed;
    assert.equal(serverSide.problems.length, 1);
    grexError('GREX_ERR_BLEET_INVALID')(serverSide.problems[0]);
    assert.deepEqual(serverSide.requests, [], 'the handler never saw it');
    await assert.rejects(bad, grexError('GREX_ERR_PEER_UNAVAILABLE'));
  });

  describe('bleets with attachments', () => {
    const payload = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
    const head = Uint8Array.of(1, 2, 3, 4);

    /** A raw socket to a server link, keeping every message it receives as bytes. */
    async function rawMessages(serverLimits?: LinkLimits) {
      const network = new MemoryNetwork();
      const clientTransport = new MemoryTransport(network);
      const serverTransport = new MemoryTransport(network);
      const serverSide = new Recorder();
      let server: BleetLink | undefined;
      await serverTransport.listen((socket) => {
        server = new BleetLink(socket, { self: member('server'), flocks: FLOCKS, handlers: serverSide.handlers, limits: serverLimits });
      });
      const socket = await clientTransport.dial(serverTransport.url);
      const messages: Uint8Array[] = [];
      socket.onFrame((bytes) => messages.push(bytes));
      await waitFor(() => server, { what: 'the server to accept' });
      socket.send(encodeFrame(hello()));
      await waitFor(() => server!.ready, { what: 'the server to take the hello' });
      return { socket, server: server!, serverSide, messages };
    }

    test('a replicate with large payloads and its fetch answer arrive whole, the payloads as attachments', async () => {
      const { client, serverSide } = await pair();
      const large = payload(ATTACH_MIN_BYTES * 3, 1);
      const answer = payload(ATTACH_MIN_BYTES + 1, 2);
      serverSide.serve = async (method, body) => {
        if (method === 'fetch') return { records: [[head, answer], Uint8Array.of(7)] };
        const records = (body as { records: (readonly Uint8Array[])[] }).records;
        assert.deepEqual(Buffer.from(records[0]![1]!), Buffer.from(large));
        assert.deepEqual(Buffer.from(records[1]![1]!), Buffer.from(large.subarray(0, 10)));
        return { applied: records.length, missing: [], herding: true };
      };
      assert.deepEqual(await client.request('replicate', { flock: 1, term: 1, records: [[head, large], [head, large.subarray(0, 10)]] }, 5000), {
        applied: 2,
        missing: [],
        herding: true,
      });
      const fetched = await client.request('fetch', { flock: 1, keys: [['b', 'i']] }, 5000);
      assert.equal(fetched.records.length, 2);
      assert.deepEqual(Buffer.from((fetched.records[0] as readonly Uint8Array[])[1]!), Buffer.from(answer));
      assert.deepEqual(Buffer.from(fetched.records[1] as Uint8Array), Buffer.from([7]));
      assert.equal(client.ready, true);
      client.close('done');
    });

    test('a raw peer sending a frame and its attachments is served; the answer comes with its own', async () => {
      const raw = await rawMessages();
      const sent = payload(ATTACH_MIN_BYTES, 3);
      const back = payload(ATTACH_MIN_BYTES * 2, 4);
      raw.serverSide.serve = async (method, body) => {
        assert.equal(method, 'replicate');
        assert.deepEqual(Buffer.from((body as { records: Uint8Array[] }).records[0]!), Buffer.from(sent));
        return { applied: 1, missing: [], herding: true };
      };
      raw.socket.send(encodeFrame({ t: 'req', id: 5, m: 'replicate', ttl: 1000, b: { flock: 1, term: 1, records: [0] }, x: [sent.byteLength] }));
      raw.socket.send(sent);
      await waitFor(() => raw.messages.length >= 2, { what: 'the answer' });
      assert.deepEqual(decodeFrame(raw.messages[1]!), { t: 'res', id: 5, ok: true, b: { applied: 1, missing: [], herding: true } });
      // The server answers a fetch with its record's payload after the frame.
      raw.serverSide.serve = async () => ({ records: [[head, back]] });
      raw.socket.send(encodeFrame({ t: 'req', id: 6, m: 'fetch', ttl: 1000, b: { flock: 1, keys: [] } }));
      await waitFor(() => raw.messages.length >= 4, { what: 'the fetch answer and its attachment' });
      const frame = decodeFrame(raw.messages[2]!);
      assert.ok(frame.t === 'res' && frame.ok);
      assert.deepEqual(frame.x, [back.byteLength]);
      assert.deepEqual(Buffer.from(raw.messages[3]!), Buffer.from(back));
      assert.deepEqual(raw.serverSide.problems, []);
      raw.socket.close('done');
    });

    test('an attachment of another length than announced closes the link with GREX_ERR_BLEET_INVALID, unserved', async () => {
      const raw = await rawMessages();
      raw.socket.send([encodeFrame({ t: 'req', id: 1, m: 'replicate', ttl: 1000, b: { flock: 1, term: 1, records: [0, 1] }, x: [10, 20] }), payload(10, 1), payload(19, 2)]);
      await raw.server.whenClosed;
      assert.equal(raw.serverSide.problems.length, 1);
      grexError('GREX_ERR_BLEET_INVALID')(raw.serverSide.problems[0]);
      assert.match(raw.serverSide.problems[0]!.message, /attachment 1 has 19 bytes, its frame announced 20/);
      assert.deepEqual(raw.serverSide.requests, []);
    });

    test('attachments the body does not refer to close the link with GREX_ERR_BLEET_INVALID', async () => {
      const raw = await rawMessages();
      raw.socket.send([encodeFrame({ t: 'req', id: 1, m: 'replicate', ttl: 1000, b: { flock: 1, term: 1, records: [1] }, x: [10, 10] }), payload(10, 1), payload(10, 2)]);
      await raw.server.whenClosed;
      grexError('GREX_ERR_BLEET_INVALID')(raw.serverSide.problems[0]);
      assert.match(raw.serverSide.problems[0]!.message, /not referred to/);
      assert.deepEqual(raw.serverSide.requests, []);
    });

    test('a bleet announced larger than maxBleetBytes closes the link at its frame', async () => {
      const raw = await rawMessages({ ...DEFAULT_LINK_LIMITS, maxBleetBytes: 100_000 });
      raw.socket.send(encodeFrame({ t: 'req', id: 1, m: 'replicate', ttl: 1000, b: { flock: 1, term: 1, records: [0, 1] }, x: [50_000, 50_000] }));
      await raw.server.whenClosed;
      grexError('GREX_ERR_BLEET_INVALID')(raw.serverSide.problems[0]);
      assert.match(raw.serverSide.problems[0]!.message, /announced a bleet of 1000\d\d bytes \(at most 100000\)/);
    });

    test('a lossy transport loses a bleet all or none: the link stays in step', async () => {
      const { network, client, serverSide } = await pair();
      serverSide.serve = async (_method, body) => ({ applied: (body as { records: unknown[] }).records.length, missing: [], herding: true });
      network.setFaults({ dropRate: 0.5, seed: 7 });
      const large = payload(ATTACH_MIN_BYTES, 5);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 40 }, () => client.request('replicate', { flock: 1, term: 1, records: [[head, large], [head, large], large] }, 300)),
      );
      network.setFaults({});
      const answered = outcomes.filter((o) => o.status === 'fulfilled');
      assert.ok(answered.length > 0 && answered.length < 40, `some bleets got through, some were lost (${answered.length} of 40)`);
      for (const o of answered) assert.deepEqual(o.value, { applied: 3, missing: [], herding: true });
      for (const o of outcomes) if (o.status === 'rejected') grexError('GREX_ERR_BLEET_TIMEOUT')(o.reason);
      assert.deepEqual(serverSide.problems, [], 'no half bleet arrived');
      assert.equal(client.ready, true);
      client.close('done');
    });
  });
});
