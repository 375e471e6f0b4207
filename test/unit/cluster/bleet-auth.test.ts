// The authentication handshake of bleet connections (src/cluster/bleet-auth.ts)
// as a pure state machine, frames passed by hand: two ends with the same
// secret authenticate each other; a wrong secret, a replayed handshake, a
// reflected proof, a proof for other node ids, and anything that is not a
// handshake frame are refused with GREX_ERR_BLEET_AUTH; the secret never
// appears in what is sent.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BleetHandshake,
  computeProof,
  decodeAuthFrame,
  encodeAuthFrame,
  MAX_AUTH_FRAME_BYTES,
  NONCE_BYTES,
  type AuthRole,
} from '../../../src/cluster/bleet-auth.js';
import { encodeFrame } from '../../../src/cluster/bleet-messages.js';
import { GrexError } from '../../../src/errors.js';

const SECRET = 'correct horse battery staple';

function end(role: AuthRole, selfId: string, secret = SECRET, nonceByte?: number): BleetHandshake {
  return new BleetHandshake({ secret, selfId, role, ...(nonceByte === undefined ? {} : { nonce: new Uint8Array(NONCE_BYTES).fill(nonceByte) }) });
}

function authError(pattern?: RegExp) {
  return (err: unknown): true => {
    assert.ok(err instanceof GrexError, `expected a GrexError, got ${String(err)}`);
    assert.equal(err.code, 'GREX_ERR_BLEET_AUTH');
    if (pattern !== undefined) assert.match(err.message, pattern);
    return true;
  };
}

/** Runs both ends against each other; returns every frame each one sent. */
function run(dialer: BleetHandshake, listener: BleetHandshake): { fromDialer: Uint8Array[]; fromListener: Uint8Array[]; dialerSaw?: string; listenerSaw?: string } {
  const fromDialer = [dialer.challenge()];
  const fromListener = [listener.challenge()];
  const toDialer = dialer.receive(fromListener[0]!);
  const toListener = listener.receive(fromDialer[0]!);
  fromDialer.push(toDialer.send!);
  fromListener.push(toListener.send!);
  const dialerDone = dialer.receive(fromListener[1]!);
  const listenerDone = listener.receive(fromDialer[1]!);
  return { fromDialer, fromListener, dialerSaw: dialerDone.authenticated, listenerSaw: listenerDone.authenticated };
}

describe('BleetHandshake', () => {
  test('two ends with the same secret authenticate each other and learn the peer node id', () => {
    const dialer = end('dialer', 'node-a');
    const listener = end('listener', 'node-b');
    const { dialerSaw, listenerSaw } = run(dialer, listener);
    assert.equal(dialerSaw, 'node-b');
    assert.equal(listenerSaw, 'node-a');
    assert.equal(dialer.state, 'done');
    assert.equal(listener.state, 'done');
  });

  test('the secret is in no frame, and each connection has a fresh nonce', () => {
    const { fromDialer, fromListener } = run(end('dialer', 'a'), end('listener', 'b'));
    for (const frame of [...fromDialer, ...fromListener]) {
      assert.equal(Buffer.from(frame).includes(Buffer.from(SECRET)), false);
      assert.ok(frame.byteLength <= MAX_AUTH_FRAME_BYTES);
    }
    const first = decodeAuthFrame(end('dialer', 'a').challenge());
    const second = decodeAuthFrame(end('dialer', 'a').challenge());
    assert.equal(first.t, 'challenge');
    assert.equal(second.t, 'challenge');
    assert.notDeepEqual(first.t === 'challenge' && Buffer.from(first.nonce), second.t === 'challenge' && Buffer.from(second.nonce));
  });

  test('a wrong secret fails at both ends', () => {
    const dialer = end('dialer', 'a', 'another secret of some length');
    const listener = end('listener', 'b');
    const dialerChallenge = dialer.challenge();
    const listenerChallenge = listener.challenge();
    const dialerProof = dialer.receive(listenerChallenge).send!;
    const listenerProof = listener.receive(dialerChallenge).send!;
    assert.throws(() => dialer.receive(listenerProof), authError(/b does not know the cluster secret/));
    assert.throws(() => listener.receive(dialerProof), authError(/a does not know the cluster secret/));
    assert.equal(dialer.state, 'failed');
    assert.equal(listener.state, 'failed');
  });

  test('a recorded handshake replayed on a new connection fails: the listener’s nonce is new', () => {
    const recorded = run(end('dialer', 'a'), end('listener', 'b')).fromDialer;
    const listener = end('listener', 'b');
    listener.challenge();
    assert.ok(listener.receive(recorded[0]!).send, 'the replayed challenge is answered, as any challenge');
    assert.throws(() => listener.receive(recorded[1]!), authError(/does not know the cluster secret/));
  });

  test('a proof made by one end cannot be reflected back to it (the role is in the mac)', () => {
    // Two connections to node-b whose nonces happen to be equal, so the macs differ only by role:
    // the listener proof node-b makes on one is no dialer proof on the other.
    const attackerChallenge = encodeAuthFrame({ t: 'challenge', v: 1, nodeId: 'node-x', nonce: new Uint8Array(NONCE_BYTES).fill(7) });
    const target = end('listener', 'node-b', SECRET, 5);
    const helper = end('listener', 'node-b', SECRET, 5);
    target.challenge();
    helper.challenge();
    target.receive(attackerChallenge);
    const reflected = helper.receive(attackerChallenge).send!;
    assert.throws(() => target.receive(reflected), authError(/node-x does not know the cluster secret/));
  });

  test('a proof is bound to the node ids: a valid mac for other ids fails', () => {
    const listener = end('listener', 'node-b', SECRET, 2);
    const listenerNonce = new Uint8Array(NONCE_BYTES).fill(2);
    const dialerNonce = new Uint8Array(NONCE_BYTES).fill(1);
    listener.challenge();
    listener.receive(encodeAuthFrame({ t: 'challenge', v: 1, nodeId: 'node-a', nonce: dialerNonce }));
    const forOtherIds = computeProof(SECRET, { prover: 'dialer', dialerId: 'node-z', listenerId: 'node-b', dialerNonce, listenerNonce });
    assert.throws(() => listener.receive(encodeAuthFrame({ t: 'proof', mac: forOtherIds })), authError());
    const right = end('listener', 'node-b', SECRET, 2);
    right.challenge();
    right.receive(encodeAuthFrame({ t: 'challenge', v: 1, nodeId: 'node-a', nonce: dialerNonce }));
    const proof = computeProof(SECRET, { prover: 'dialer', dialerId: 'node-a', listenerId: 'node-b', dialerNonce, listenerNonce });
    assert.deepEqual(right.receive(encodeAuthFrame({ t: 'proof', mac: proof })), { authenticated: 'node-a' });
  });

  test('a hello first is refused, with a hint that the peer has no secret', () => {
    const listener = end('listener', 'b');
    listener.challenge();
    const hello = encodeFrame({ t: 'hello', proto: 1, flocks: 64, member: { nodeId: 'r', httpUrl: '', bleetUrl: '', herd: true, incarnation: 1 } });
    assert.throws(() => listener.receive(hello), authError(/"hello" frame before authenticating.*without the cluster secret/));
    assert.equal(listener.state, 'failed');
    assert.throws(() => listener.receive(end('dialer', 'a').challenge()), authError(/already failed/), 'nothing is read after a failure');
  });

  test('requests, proofs out of order, second challenges and junk are refused', () => {
    const cases: [string, (h: BleetHandshake) => void, RegExp][] = [
      ['a request', (h) => h.receive(encodeFrame({ t: 'req', id: 1, m: 'members', ttl: 1000, b: {} })), /"req" frame before authenticating/],
      ['a proof first', (h) => h.receive(encodeAuthFrame({ t: 'proof', mac: new Uint8Array(32) })), /proof before its challenge/],
      [
        'a second challenge',
        (h) => {
          h.receive(end('dialer', 'a').challenge());
          h.receive(end('dialer', 'a').challenge());
        },
        /second challenge/,
      ],
      ['not msgpack', (h) => h.receive(Uint8Array.of(0x92, 0x01)), /not msgpack/],
      ['not a map', (h) => h.receive(encodeFrame([1, 2] as never)), /not a map/],
      ['an oversized frame', (h) => h.receive(new Uint8Array(MAX_AUTH_FRAME_BYTES + 1)), /byte frame during authentication/],
      ['a short nonce', (h) => h.receive(encodeAuthFrame({ t: 'challenge', v: 1, nodeId: 'a', nonce: new Uint8Array(8) })), /nonce/],
      ['a bad node id', (h) => h.receive(encodeAuthFrame({ t: 'challenge', v: 1, nodeId: 'a/b', nonce: new Uint8Array(NONCE_BYTES) })), /node id/],
      ['another version', (h) => h.receive(encodeAuthFrame({ t: 'challenge', v: 2, nodeId: 'a', nonce: new Uint8Array(NONCE_BYTES) })), /version 2/],
    ];
    for (const [what, act, pattern] of cases) {
      const listener = end('listener', 'b');
      listener.challenge();
      assert.throws(() => act(listener), authError(pattern), what);
      assert.equal(listener.state, 'failed', what);
    }
  });

  test('a short proof is refused before any comparison', () => {
    const listener = end('listener', 'b');
    listener.challenge();
    listener.receive(end('dialer', 'a').challenge());
    assert.throws(() => listener.receive(encodeAuthFrame({ t: 'proof', mac: new Uint8Array(31) })), authError(/32-byte mac/));
  });
});
