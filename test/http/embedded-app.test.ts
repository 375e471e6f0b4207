/**
 * Grex inside an app's own fastify server: the grexRoutes plugin mounted
 * under a prefix next to the app's routes, the node's URL taken from the
 * app's listener (with the prefix), node.submit from app code taking the
 * same route as HTTP (here or one hop to the active node), and node.stop()
 * from the app's shutdown, in either order and more than once.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { GrexClient } from '../../src/client/grex-client.js';
import type { GrexNode } from '../../src/grex-node.js';
import { grexRoutes, MAX_PARAM_LENGTH } from '../../src/http/server.js';
import { postJob, requestJson } from '../helpers/http.js';
import { bucketLedBy, startMemoryCluster } from '../helpers/memory-cluster.js';
import { rejection, startTestNode } from '../helpers/nodes.js';
import { waitFor } from '../helpers/wait-for.js';

/** An app with its own routes and Grex's under /grex, listening on 127.0.0.1 (port chosen at run time). */
async function startApp(t: Pick<TestContext, 'after'>, node: GrexNode): Promise<{ app: FastifyInstance; base: string }> {
  const app = Fastify({ routerOptions: { maxParamLength: MAX_PARAM_LENGTH }, bodyLimit: 64 * 1024 });
  await app.register(grexRoutes, { node, prefix: '/grex' });
  app.get('/hello', async () => ({ hello: 'from the app' }));
  app.post<{ Params: { id: string }; Body: { by: number } }>('/counters/:id', async (request) => {
    const { result, activeNode } = await node.submit<{ count: number }>(request.params.id, 'counter', { by: request.body.by });
    return { count: result.count, ranOn: activeNode };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  const address = app.server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { app, base: `http://127.0.0.1:${address.port}` };
}

describe('a fastify app with the grexRoutes plugin', () => {
  test("serves its own routes and Grex's under its prefix, and the node's URL is the app's with the prefix", async (t) => {
    const node = await startTestNode(t);
    const { base } = await startApp(t, node);
    assert.equal(node.url, `${base}/grex`);

    assert.deepEqual((await requestJson(`${base}/hello`)).body, { hello: 'from the app' });
    const own = await requestJson(`${base}/counters/ann`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"by":2}' });
    assert.deepEqual(own.body, { count: 2, ranOn: `${base}/grex` });

    const job = await postJob(`${base}/grex`, 'ann', 'counter', { by: 3 });
    assert.equal(job.status, 200);
    assert.deepEqual(job.body, { result: { count: 5 }, activeNode: `${base}/grex` });
    assert.equal(job.headers.get('grex-active-node'), `${base}/grex`);
    assert.equal((await requestJson(`${base}/grex/route/ann`)).body.activeNode, `${base}/grex`);
    assert.equal((await requestJson(`${base}/grex/ready`)).body.url, `${base}/grex`);

    // A client seeded with the prefixed URL goes through Grex's routes too.
    const client = new GrexClient(`${base}/grex`);
    assert.deepEqual(await client.submit('ann', 'counter'), { result: { count: 6 }, activeNode: `${base}/grex` });
  });

  test("unknown paths under the prefix get Grex's error format; the app's other paths keep the app's", async (t) => {
    const node = await startTestNode(t);
    const { base } = await startApp(t, node);
    const grex = await requestJson(`${base}/grex/no/such/route`);
    assert.equal(grex.status, 404);
    assert.equal(grex.body.error.code, 'GREX_ERR_ROUTE_NOT_FOUND');
    const app = await requestJson(`${base}/no/such/route`);
    assert.equal(app.status, 404);
    assert.equal(app.body.error, 'Not Found');
    const unknownJob = await postJob(`${base}/grex`, 'ann', 'no-such-job');
    assert.equal(unknownJob.body.error.code, 'GREX_ERR_JOB_NOT_FOUND');
  });

  test("Grex's routes take the node's bodyLimitMb, the app's routes the app's bodyLimit", async (t) => {
    const node = await startTestNode(t, { bodyLimitMb: 1 / 1024 }); // 1 KiB
    const { base } = await startApp(t, node); // the app allows 64 KiB
    const big = JSON.stringify({ by: 1, padding: 'x'.repeat(4096) });
    const grex = await requestJson(`${base}/grex/buckets/ann/jobs/counter`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    assert.equal(grex.status, 413);
    assert.equal(grex.body.error.code, 'GREX_ERR_BODY_TOO_LARGE');
    const own = await requestJson(`${base}/counters/ann`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    assert.deepEqual(own.body, { count: 1, ranOn: `${base}/grex` });
  });

  test('a node whose url option is set keeps it', async (t) => {
    const node = await startTestNode(t, { url: 'http://grex.example:8080/grex' });
    await startApp(t, node);
    assert.equal(node.url, 'http://grex.example:8080/grex');
  });

  test('node.stop() from the app shutdown: after app.close(), in an onClose hook, twice, or before the app closes', async (t) => {
    // The app closes first, then stops the node: twice is harmless.
    const first = await startTestNode(t);
    const { app: firstApp } = await startApp(t, first);
    await firstApp.close();
    await Promise.all([first.stop(), first.stop()]);
    await first.stop();
    assert.equal((await rejection(first.submit('ann', 'counter'))).code, 'GREX_ERR_SHUTTING_DOWN');

    // The node stops in the app's onClose hook.
    const second = await startTestNode(t);
    const secondApp = Fastify();
    secondApp.addHook('onClose', () => second.stop());
    await secondApp.register(grexRoutes, { node: second, prefix: '/grex' });
    await secondApp.listen({ host: '127.0.0.1', port: 0 });
    await secondApp.close();
    assert.equal(second.isReady(), false);
    await second.stop();

    // The node stops first: the app still answers, Grex's routes with 503s.
    const third = await startTestNode(t);
    const { app: thirdApp, base } = await startApp(t, third);
    await third.stop();
    const job = await postJob(`${base}/grex`, 'ann', 'counter');
    assert.equal(job.status, 503);
    assert.equal(job.body.error.code, 'GREX_ERR_SHUTTING_DOWN');
    assert.equal((await requestJson(`${base}/grex/ready`)).status, 503);
    assert.deepEqual((await requestJson(`${base}/hello`)).body, { hello: 'from the app' });
    await thirdApp.close();
  });
});

describe('three apps, each embedding a node of one cluster', () => {
  test('node.submit and HTTP on any app run on the active node, one hop away, and answer its prefixed URL', async (t) => {
    const cluster = await startMemoryCluster(t, 3);
    const apps = await Promise.all(cluster.nodes.map((node) => startApp(t, node)));
    const urls = apps.map((a) => `${a.base}/grex`);
    // Each node's URL travels to the others with the member table.
    await waitFor(
      () => cluster.nodes.every((node) => cluster.nodes.every((other, i) => node.cluster.member(other.nodeId)?.httpUrl === urls[i])),
      { what: "every node to know every app's URL" },
    );
    const [a, b] = cluster.nodes as [GrexNode, GrexNode];
    const bucket = bucketLedBy(a, b.nodeId);
    assert.deepEqual(a.route(bucket).herders.slice(0, 1), [urls[1]]);

    // From app code on a node that is not the active one: forwarded once, answered by b.
    const forwardedBefore = a.cluster.counters.jobsForwarded;
    const inProcess = await a.submit<{ count: number }>(bucket, 'counter', { by: 2 });
    assert.deepEqual(inProcess, { result: { count: 2 }, activeNode: urls[1] });
    assert.equal(a.cluster.counters.jobsForwarded, forwardedBefore + 1);

    // The same over HTTP on the third app, and from the app's own route.
    const overHttp = await postJob(urls[2]!, bucket, 'counter', { by: 3 });
    assert.deepEqual(overHttp.body, { result: { count: 5 }, activeNode: urls[1] });
    const own = await requestJson(`${apps[0]!.base}/counters/${bucket}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"by":4}' });
    assert.deepEqual(own.body, { count: 9, ranOn: urls[1] });

    // On the active node itself, no hop.
    const localBefore = b.cluster.counters.jobsLocal;
    assert.deepEqual(await b.submit(bucket, 'counter'), { result: { count: 10 }, activeNode: urls[1] });
    assert.equal(b.cluster.counters.jobsLocal, localBefore + 1);
  });
});
