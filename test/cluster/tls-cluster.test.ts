// A three-node cluster of real processes over TLS with a certificate the
// test makes with openssl (and the cluster secret): nodes advertise https://
// and wss:// URLs, join each other over wss verified against the CA, and jobs
// sent through GrexClient (given the CA) and `grex submit --tls-ca` run on the
// active node and reach every herder. Plaintext HTTP and ws:// to the TLS
// ports get nowhere, and a client that does not trust the CA is refused.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { GrexClient } from '../../src/client/grex-client.js';
import { header, httpAgents, httpRequest, type HttpAgents } from '../../src/client/http-request.js';
import { startProcessCluster } from '../helpers/process-cluster.js';
import { runCli, type NodeProcess } from '../helpers/processes.js';
import { suiteContext } from '../helpers/suite.js';
import { selfSignedCert, type TestCert } from '../helpers/tls-certs.js';
import { waitFor } from '../helpers/wait-for.js';

const SECRET = 'tls-cluster-test-secret-0123456789';

describe('a three-node cluster over TLS', () => {
  let nodes: NodeProcess[];
  let cert: TestCert;
  let agents: HttpAgents;
  const suite = suiteContext();

  async function getJson(url: string): Promise<{ status: number; body: any }> {
    const answer = await httpRequest(url, { agents, headers: { accept: 'application/json' } });
    return { status: answer.status, body: answer.text === '' ? undefined : JSON.parse(answer.text) };
  }

  /** The version of a node's own replica of an item (undefined if it has none). */
  async function localVersion(base: string, bucket: string, itemKey: string): Promise<string | undefined> {
    const answer = await httpRequest(`${base}/buckets/${bucket}/items/${itemKey}?local=true`, { agents });
    return answer.status === 200 ? header(answer, 'grex-version') : undefined;
  }

  before(async () => {
    cert = await selfSignedCert(suite);
    agents = httpAgents({ ca: await readFile(cert.cert) });
    suite.after(() => {
      agents.http.destroy();
      agents.https.destroy();
    });
    const tls = ['--tls-key', cert.key, '--tls-cert', cert.cert, '--tls-ca', cert.cert, '--secret', SECRET];
    nodes = await startProcessCluster(suite, ['node-a', 'node-b', 'node-c'], () => tls, async (url) => (await getJson(`${url}/cluster`)).body);
  });

  test('nodes advertise https and wss URLs and see each other connected', async () => {
    for (const node of nodes) {
      assert.match(node.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.match(node.bleetUrl, /^wss:\/\/127\.0\.0\.1:\d+$/);
      const view = (await getJson(`${node.url}/cluster`)).body;
      assert.deepEqual(
        view.members.map((m: { nodeId: string; httpUrl: string; bleetUrl: string; connected: boolean }) => [m.nodeId, m.httpUrl.slice(0, 8), m.bleetUrl.slice(0, 6), m.connected]),
        ['node-a', 'node-b', 'node-c'].map((id) => [id, 'https://', 'wss://', true]),
      );
    }
  });

  test('jobs through GrexClient (trusting the CA) run on the active node and replicate to every herder', async () => {
    const client = new GrexClient(nodes.map((n) => n.url), { ca: await readFile(cert.cert) });
    try {
      const bucket = 'tls-johndoe';
      for (let i = 1; i <= 6; i++) {
        const answer = await client.submit<{ count: number }>(bucket, 'counter');
        assert.deepEqual(answer.result, { count: i });
        assert.match(answer.activeNode, /^https:\/\//);
      }
      const route = (await getJson(`${nodes[0]!.url}/route/${bucket}`)).body;
      assert.equal(route.herders.length, 3);
      const version = (await getJson(`${route.activeNode}/buckets/${bucket}/items`)).body.items[0].version;
      await waitFor(
        async () => (await Promise.all(nodes.map((n) => localVersion(n.url, bucket, 'count')))).every((v) => v === version),
        { what: `every herder at ${version}` },
      );
    } finally {
      client.close();
    }
  });

  test('grex submit and status work with --tls-ca and fail without it', async () => {
    const ok = await runCli(['submit', 'tls-cli', 'counter', '{"by": 5}', '--url', nodes[1]!.url, '--tls-ca', cert.cert]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout).result, { count: 5 });
    const fromEnv = await runCli(['status', '--url', nodes[2]!.url], { env: { GREX_TLS_CA: cert.cert } });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.equal(JSON.parse(fromEnv.stdout).cluster.members.length, 3);
    const untrusted = await runCli(['submit', 'tls-cli', 'counter', '--url', nodes[1]!.url]);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /GREX_ERR_NODE_UNREACHABLE: .*self[- ]signed certificate/);
  });

  test('plaintext HTTP and ws:// to the TLS ports get no answer, and the nodes keep serving', async () => {
    const plainUrl = nodes[0]!.url.replace(/^https:/, 'http:');
    await assert.rejects(httpRequest(`${plainUrl}/health`, { timeoutMs: 10_000 }));
    const ws = new WebSocket(nodes[0]!.bleetUrl.replace(/^wss:/, 'ws:'));
    const failed = await new Promise<Error>((resolve) => ws.on('error', resolve));
    assert.match(failed.message, /socket hang up|ECONNRESET/);
    assert.equal(ws.readyState === WebSocket.OPEN, false, 'never opened');
    const untrusted = new WebSocket(nodes[0]!.bleetUrl);
    const [err] = (await once(untrusted, 'error')) as [Error];
    assert.match(err.message, /self[- ]signed certificate/);
    assert.equal((await getJson(`${nodes[0]!.url}/health`)).status, 200);
  });
});
