// Replicated commit (src/cluster/replicator.ts) with fake local and remote
// writes whose promises the tests settle: when the commit resolves (quorum
// reached and local write done), when it fails with GREX_ERR_QUORUM, local
// failures, a flock with no other herders, onMiss, and the `all` quorum.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { replicatedCommit, type ReplicatedCommit } from '../../../src/cluster/replicator.js';
import type { WriteQuorum } from '../../../src/cluster/quorum.js';
import { GrexError } from '../../../src/errors.js';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

type Outcome = { state: 'pending' } | { state: 'resolved' } | { state: 'rejected'; error: unknown };

function track(promise: Promise<void>): { readonly outcome: Outcome } {
  const box: { outcome: Outcome } = { outcome: { state: 'pending' } };
  promise.then(
    () => (box.outcome = { state: 'resolved' }),
    (error: unknown) => (box.outcome = { state: 'rejected', error }),
  );
  return box;
}

/** Lets every promise callback that is already due run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A commit on `self` whose local write and sends are deferreds the test settles. */
function harness(herders: string[], quorum: WriteQuorum, selfId = herders[0]!) {
  const local = deferred();
  const remote = new Map<string, Deferred>();
  const sent: string[] = [];
  const misses: [string, unknown][] = [];
  let localCalls = 0;
  const options: ReplicatedCommit = {
    herders,
    selfId,
    quorum,
    commitLocally: () => {
      localCalls++;
      return local.promise;
    },
    sendTo: (nodeId) => {
      sent.push(nodeId);
      const d = deferred();
      remote.set(nodeId, d);
      return d.promise;
    },
    onMiss: (nodeId, err) => misses.push([nodeId, err]),
  };
  const result = track(replicatedCommit(options));
  return {
    local,
    remote: (nodeId: string) => remote.get(nodeId) ?? assert.fail(`nothing was sent to ${nodeId}`),
    sent,
    misses,
    result,
    localCalls: () => localCalls,
  };
}

function assertQuorumError(outcome: Outcome, data: { acks: number; needed: number; herders: number }): void {
  assert.equal(outcome.state, 'rejected');
  const error = (outcome as { error: unknown }).error;
  assert.ok(error instanceof GrexError, `expected a GrexError, got ${String(error)}`);
  assert.equal(error.code, 'GREX_ERR_QUORUM');
  assert.deepEqual(error.data, data);
  assert.match(error.message, new RegExp(`${data.acks} of ${data.herders}.*${data.needed}`));
}

describe('replicatedCommit', () => {
  test('writes locally once and sends to every other herder once', async () => {
    const h = harness(['a', 'b', 'c', 'd'], 'majority');
    assert.equal(h.localCalls(), 1);
    assert.deepEqual([...h.sent].sort(), ['b', 'c', 'd']);
    h.local.resolve();
    for (const id of ['b', 'c', 'd']) h.remote(id).resolve();
    await settle();
    assert.equal(h.result.outcome.state, 'resolved');
  });

  test('waits for the local write even when the replicas alone reach the quorum', async () => {
    const h = harness(['a', 'b', 'c'], 'majority');
    h.remote('b').resolve();
    h.remote('c').resolve();
    await settle();
    assert.equal(h.result.outcome.state, 'pending');
    h.local.resolve();
    await settle();
    assert.equal(h.result.outcome.state, 'resolved');
  });

  test('waits for the quorum even when the local write is done', async () => {
    const h = harness(['a', 'b', 'c', 'd', 'e'], 'majority');
    h.local.resolve();
    h.remote('b').resolve();
    await settle();
    assert.equal(h.result.outcome.state, 'pending', 'two of five is not a majority');
    h.remote('d').resolve();
    await settle();
    assert.equal(h.result.outcome.state, 'resolved');
  });

  test('does not wait for the herders past the quorum', async () => {
    const h = harness(['a', 'b', 'c'], 'majority');
    h.local.resolve();
    h.remote('c').resolve();
    await settle();
    assert.equal(h.result.outcome.state, 'resolved', 'b never answered but local + c is a majority');
  });

  test('fails with GREX_ERR_QUORUM as soon as the quorum cannot be reached, without waiting for the local write', async () => {
    const h = harness(['a', 'b', 'c'], 'majority');
    h.remote('b').reject(new Error('b down'));
    await settle();
    assert.equal(h.result.outcome.state, 'pending', 'one failure of three leaves a majority possible');
    h.remote('c').reject(new Error('c down'));
    await settle();
    assertQuorumError(h.result.outcome, { acks: 0, needed: 2, herders: 3 });
    h.local.resolve(); // a late local success changes nothing
    await settle();
    assertQuorumError(h.result.outcome, { acks: 0, needed: 2, herders: 3 });
  });

  test('counts the local write in the acks of a lost quorum', async () => {
    const h = harness(['a', 'b', 'c', 'd', 'e'], 'majority');
    h.local.resolve();
    h.remote('b').resolve();
    h.remote('c').reject(new Error('down'));
    h.remote('d').reject(new Error('down'));
    await settle();
    assert.equal(h.result.outcome.state, 'pending', 'local + b with e outstanding can still make 3 of 5');
    h.remote('e').reject(new Error('down'));
    await settle();
    assertQuorumError(h.result.outcome, { acks: 2, needed: 3, herders: 5 });
  });

  test('a local failure rejects with that error even if every replica acked', async () => {
    const h = harness(['a', 'b', 'c'], 'majority');
    h.remote('b').resolve();
    h.remote('c').resolve();
    await settle();
    const diskFull = new GrexError('GREX_ERR_STORE_IO', 'disk full');
    h.local.reject(diskFull);
    await settle();
    assert.equal(h.result.outcome.state, 'rejected');
    assert.equal((h.result.outcome as { error: unknown }).error, diskFull);
  });

  test('a local failure before the replicas answer rejects at once with that error', async () => {
    const h = harness(['a', 'b', 'c'], 'majority');
    const err = new Error('io');
    h.local.reject(err);
    await settle();
    assert.equal(h.result.outcome.state, 'rejected');
    assert.equal((h.result.outcome as { error: unknown }).error, err);
    h.remote('b').resolve();
    h.remote('c').resolve();
    await settle();
    assert.equal((h.result.outcome as { error: unknown }).error, err);
  });

  test('with no other herders it is just the local commit', async () => {
    const ok = harness(['a'], 'all');
    assert.deepEqual(ok.sent, []);
    await settle();
    assert.equal(ok.result.outcome.state, 'pending');
    ok.local.resolve();
    await settle();
    assert.equal(ok.result.outcome.state, 'resolved');

    const failing = harness(['a'], 'majority');
    const err = new Error('io');
    failing.local.reject(err);
    await settle();
    assert.deepEqual(failing.result.outcome, { state: 'rejected', error: err });
    assert.deepEqual(failing.sent, []);
  });

  test('onMiss is told of each herder that failed, also after the answer', async () => {
    const h = harness(['a', 'b', 'c', 'd', 'e'], 'majority');
    const errB = new Error('b down');
    const errD = new GrexError('GREX_ERR_BLEET_TIMEOUT', 'd slow');
    h.local.resolve();
    h.remote('b').reject(errB);
    h.remote('c').resolve();
    h.remote('d').reject(errD);
    await settle();
    assert.equal(h.result.outcome.state, 'pending');
    h.remote('e').resolve();
    await settle();
    assert.equal(h.result.outcome.state, 'resolved');
    assert.deepEqual(h.misses, [
      ['b', errB],
      ['d', errD],
    ]);

    const late = harness(['a', 'b', 'c'], 'majority');
    late.local.resolve();
    late.remote('b').resolve();
    await settle();
    assert.equal(late.result.outcome.state, 'resolved');
    const errC = new Error('c down');
    late.remote('c').reject(errC);
    await settle();
    assert.deepEqual(late.misses, [['c', errC]]);
  });

  test('an `all` quorum with one failure is lost', async () => {
    const h = harness(['a', 'b', 'c'], 'all');
    h.local.resolve();
    h.remote('b').resolve();
    await settle();
    assert.equal(h.result.outcome.state, 'pending');
    h.remote('c').reject(new Error('c down'));
    await settle();
    assertQuorumError(h.result.outcome, { acks: 2, needed: 3, herders: 3 });
  });

  test('an `all` quorum is lost at the first failure, before anything else answers', async () => {
    const h = harness(['a', 'b', 'c'], 'all');
    h.remote('c').reject(new Error('c down'));
    await settle();
    assertQuorumError(h.result.outcome, { acks: 0, needed: 3, herders: 3 });
  });

  test('a quorum of 1 is met by the local write alone', async () => {
    const h = harness(['a', 'b', 'c'], 1);
    h.local.resolve();
    await settle();
    assert.equal(h.result.outcome.state, 'resolved');
  });

  test('this node need not be the first herder', async () => {
    const h = harness(['b', 'a', 'c'], 'majority', 'a');
    assert.deepEqual([...h.sent].sort(), ['b', 'c']);
    h.local.resolve();
    h.remote('b').resolve();
    await settle();
    assert.equal(h.result.outcome.state, 'resolved');
  });
});
