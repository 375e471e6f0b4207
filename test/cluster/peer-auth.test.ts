// Peer authentication in whole clusters. In process over the in-memory
// network: nodes with the same secret form a cluster and replicate; a node
// with a wrong secret never joins. With real processes: a three-node cluster
// with the secret (given as a flag and as a file) runs jobs that replicate;
// a rogue WebSocket client that sends a hello and a job without the secret is
// closed with GREX_ERR_BLEET_AUTH and nothing it sent is run; a replay of a
// handshake recorded from a legitimate connection is refused; a node with a
// wrong secret cannot join; the cluster keeps serving through all of it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { before, describe, test } from 'node:test';
import { pino } from 'pino';
import { WebSocket, type RawData } from 'ws';
import { BleetHandshake, decodeAuthFrame } from '../../src/cluster/bleet-auth.js';
import { BLEET_PROTOCOL, decodeFrame, encodeFrame } from '../../src/cluster/bleet-messages.js';
import { postJob, requestJson } from '../helpers/http.js';
import { bucketLedBy, inSync, startMemoryCluster } from '../helpers/memory-cluster.js';
import { bucketActiveOn, localVersions, startClusterProcess, startProcessCluster } from '../helpers/process-cluster.js';
import type { NodeProcess } from '../helpers/processes.js';
import { suiteContext } from '../helpers/suite.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const SECRET = 'peer-auth-test-secret-0123456789abcdef';
const WRONG = 'not-the-cluster-secret-0123456789abcdef';

function recordingLogger(): { logger: pino.Logger; lines: { msg: string; code?: string }[] } {
  const lines: { msg: string; code?: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), lines };
}

describe('peer authentication, in process', () => {
  test('nodes with the same secret form a cluster and replicate; a node with a wrong secret never joins', async (t) => {
    const cluster = await startMemoryCluster(t, 3, { secret: SECRET });
    const [a] = cluster.nodes as [(typeof cluster.nodes)[0]];
    const bucket = bucketLedBy(a, a.nodeId);
    assert.deepEqual((await a.submit(bucket, 'counter')).result, { count: 1 });
    await inSync(a, bucket, cluster.nodes.slice(1).map((n) => n.nodeId));
    for (const node of cluster.nodes.slice(1)) assert.equal((await node.readItem(bucket, 'count', { local: true }))?.version.seq, (await a.readItem(bucket, 'count'))?.version.seq);
    const { logger, lines } = recordingLogger();
    const intruder = await cluster.add({ secret: WRONG, logger });
    await waitFor(() => lines.some((l) => l.code === 'GREX_ERR_BLEET_AUTH'), { what: 'the intruder to be refused' });
    assert.equal(intruder.cluster.joined, false);
    assert.equal(intruder.isReady(), false);
    for (const node of cluster.nodes.slice(0, 3)) assert.equal(node.cluster.members().length, 3, 'the cluster never learnt of it');
    assert.deepEqual((await a.submit(bucket, 'counter')).result, { count: 2 });
  });
});

/** A WebSocket to a node's bleet port that records every frame and the close. */
async function rawBleetSocket(url: string) {
  const ws = new WebSocket(url);
  const frames: Uint8Array[] = [];
  let closeInfo: { code: number; reason: string } | undefined;
  ws.on('message', (data: RawData) => frames.push(new Uint8Array(data as Buffer)));
  ws.on('close', (code: number, reason: Buffer) => (closeInfo = { code, reason: reason.toString() }));
  await once(ws, 'open');
  return { ws, frames, closed: () => waitFor(() => closeInfo, { what: 'the node to close the connection' }) };
}

describe('peer authentication, real processes', () => {
  let nodes: NodeProcess[];
  const suite = suiteContext();

  before(async () => {
    const secretDir = await tempDir(suite);
    const secretFile = join(secretDir, 'secret');
    await writeFile(secretFile, `${SECRET}\n`);
    nodes = await startProcessCluster(suite, ['node-a', 'node-b', 'node-c'], (name) => (name === 'node-a' ? ['--secret', SECRET] : ['--secret-file', secretFile]));
  });

  test('the cluster with the secret runs jobs that reach every herder', async () => {
    const bucket = 'johndoe';
    let count = 0;
    for (const node of nodes) {
      const answer = await postJob(node.url, bucket, 'counter');
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.body.result, { count: ++count });
    }
    const active = (await requestJson(`${nodes[0]!.url}/route/${bucket}`)).body.activeNode as string;
    const version = (await requestJson(`${active}/buckets/${bucket}/items`)).body.items[0].version;
    await waitFor(async () => (await localVersions(nodes, bucket)).every((v) => v === version), { what: `every herder at ${version}` });
  });

  test('a rogue client without the secret is closed before its hello or its job is read; the node keeps serving', async () => {
    const target = nodes[1]!;
    const bucket = await bucketActiveOn(target, target, 'rogue');
    const before = (await requestJson(`${target.url}/cluster`)).body.counters.jobsReceived as number;
    const rogue = await rawBleetSocket(target.bleetUrl);
    rogue.ws.send(encodeFrame({ t: 'hello', proto: BLEET_PROTOCOL, flocks: 1024, member: { nodeId: 'rogue', httpUrl: 'http://rogue', bleetUrl: 'ws://127.0.0.1:1', herd: true, incarnation: 1 } }));
    rogue.ws.send(encodeFrame({ t: 'req', id: 1, m: 'job', ttl: 5000, b: { bucketKey: bucket, jobName: 'counter', data: null, dataEncoding: 'json', resultEncoding: 'json' } }));
    const { code, reason } = await rogue.closed();
    assert.equal(code, 1008);
    assert.match(reason, /^GREX_ERR_BLEET_AUTH: /);
    assert.equal(rogue.frames.length, 1, 'it got the challenge and nothing else');
    assert.equal(decodeAuthFrame(rogue.frames[0]!).t, 'challenge');
    await waitFor(() => /bleet connection refused: a \\"hello\\" frame before authenticating/.test(target.output()), { what: 'the refusal in the log' });
    assert.match(target.output(), /"code":"GREX_ERR_BLEET_AUTH"/);
    const view = (await requestJson(`${target.url}/cluster`)).body;
    assert.equal(view.counters.jobsReceived, before, 'its job never ran');
    assert.deepEqual(view.members.map((m: { nodeId: string }) => m.nodeId).sort(), ['node-a', 'node-b', 'node-c'], 'it never became a member');
    assert.equal((await requestJson(`${target.url}/buckets/${bucket}/items`)).body.items.length, 0, 'nothing was written');
    assert.deepEqual((await postJob(nodes[0]!.url, bucket, 'counter')).body.result, { count: 1 });
  });

  test('a handshake recorded from a legitimate connection and replayed is refused', async () => {
    const target = nodes[2]!;
    // A legitimate handshake (this test knows the secret): the node answers with its hello.
    const legit = await rawBleetSocket(target.bleetUrl);
    const handshake = new BleetHandshake({ secret: SECRET, selfId: 'observer', role: 'dialer' });
    const recorded: Uint8Array[] = [handshake.challenge()];
    legit.ws.send(recorded[0]!);
    await waitFor(() => legit.frames.length >= 1, { what: 'the node’s challenge' });
    const proof = handshake.receive(legit.frames[0]!).send!;
    recorded.push(proof);
    legit.ws.send(proof);
    await waitFor(() => legit.frames.length >= 3, { what: 'the node’s proof and hello' });
    assert.deepEqual(handshake.receive(legit.frames[1]!), { authenticated: 'node-c' });
    const hello = decodeFrame(legit.frames[2]!);
    assert.equal(hello.t, 'hello', 'authenticated: the node said hello');
    legit.ws.close();
    // The same bytes again on a new connection.
    const replay = await rawBleetSocket(target.bleetUrl);
    for (const frame of recorded) replay.ws.send(frame);
    const { code, reason } = await replay.closed();
    assert.equal(code, 1008);
    assert.match(reason, /^GREX_ERR_BLEET_AUTH: /);
    assert.equal(replay.frames.length, 2, 'a challenge and a proof, no hello');
    assert.equal(decodeAuthFrame(replay.frames[1]!).t, 'proof');
    await waitFor(() => /observer does not know the cluster secret/.test(target.output()), { what: 'the refusal in the log' });
    assert.equal((await requestJson(`${target.url}/cluster`)).body.members.length, 3);
  });

  test('a node with a wrong secret cannot join; both sides log why', async (t) => {
    const intruder = await startClusterProcess(t, 'node-x', nodes[0]!, ['--secret', WRONG]);
    await waitFor(() => /node-x does not know the cluster secret/.test(nodes[0]!.output()), { what: 'node-a to refuse node-x' });
    await waitFor(() => /node-a does not know the cluster secret/.test(intruder.output()), { what: 'node-x to refuse node-a' });
    assert.equal((await requestJson(`${intruder.url}/ready`)).status, 503, 'never joined');
    for (const node of nodes) {
      const members = (await requestJson(`${node.url}/cluster`)).body.members.map((m: { nodeId: string }) => m.nodeId);
      assert.deepEqual(members.sort(), ['node-a', 'node-b', 'node-c']);
    }
    assert.equal(await intruder.stop(), 0);
    assert.equal((await postJob(nodes[0]!.url, 'after-intruder', 'counter')).status, 200);
  });

  test('a node without a secret cannot join a cluster with one', async (t) => {
    const plain = await startClusterProcess(t, 'node-p', nodes[1]!);
    await waitFor(() => /is the peer started without the cluster secret/.test(nodes[1]!.output()), { what: 'node-b to refuse node-p' });
    await waitFor(() => /has a cluster secret \(option secret\) and this node has none|GREX_ERR_BLEET_AUTH/.test(plain.output()), { what: 'node-p to see why' });
    assert.equal((await requestJson(`${plain.url}/ready`)).status, 503);
    assert.equal((await requestJson(`${nodes[1]!.url}/cluster`)).body.members.length, 3);
    assert.equal(await plain.stop(), 0);
  });
});
