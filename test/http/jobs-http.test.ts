// HTTP job path: JSON and msgpack in and out, the active node in body and header,
// hostile but valid keys in URLs, /route, /health and /ready.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { describe, test } from 'node:test';
import { Packr } from 'msgpackr';
import { startHttpNode, postJob, requestJson } from '../helpers/http.js';

// A plain MessagePack codec, as any client language would have.
const msgpack = new Packr({ useRecords: false, mapsAsObjects: true });

describe('POST /buckets/:bucketKey/jobs/:jobName', () => {
  test('answers { result, activeNode } with the Grex-Active-Node and Grex-Flock headers', async (t) => {
    const node = await startHttpNode(t);
    const first = await postJob(node.url, 'johndoe', 'counter', { by: 2 });
    assert.equal(first.status, 200);
    assert.deepEqual(first.body, { result: { count: 2 }, activeNode: node.url });
    assert.equal(first.headers.get('grex-active-node'), node.url);
    const route = node.route('johndoe');
    assert.equal(first.headers.get('grex-flock'), `${route.flock}/1024`);
    const second = await postJob(node.url, 'johndoe', 'counter');
    assert.deepEqual(second.body.result, { count: 3 });
  });

  test('a request without a body runs the job with no data', async (t) => {
    const node = await startHttpNode(t);
    const answer = await requestJson(`${node.url}/buckets/b/jobs/counter`, { method: 'POST' });
    assert.deepEqual(answer.body.result, { count: 1 });
  });

  test('msgpack in, msgpack out', async (t) => {
    const node = await startHttpNode(t);
    const response = await fetch(`${node.url}/buckets/m/jobs/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/msgpack' },
      body: msgpack.pack({ list: [1, 'two', { three: 3 }], big: 2 ** 40 }),
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /application\/msgpack/);
    const body = msgpack.unpack(Buffer.from(await response.arrayBuffer()));
    assert.deepEqual(body, { result: { list: [1, 'two', { three: 3 }], big: 2 ** 40 }, activeNode: node.url });
  });

  test('JSON in, msgpack out when Accept asks for it', async (t) => {
    const node = await startHttpNode(t);
    const response = await fetch(`${node.url}/buckets/m/jobs/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/msgpack' },
      body: JSON.stringify({ a: 1 }),
    });
    assert.deepEqual(msgpack.unpack(Buffer.from(await response.arrayBuffer())), { result: { a: 1 }, activeNode: node.url });
  });

  test('any valid key works in a URL: slashes, dots, percent signs, unicode, 256 bytes', async (t) => {
    const node = await startHttpNode(t);
    const keys = ['a/b', '...', '.a', 'a..', '%', '%2F', 'é😀', ' spaced out ', 'x'.repeat(256), 'é'.repeat(128), 'JohnDoe'];
    for (const key of keys) {
      assert.deepEqual((await postJob(node.url, key, 'counter')).body.result, { count: 1 }, key);
      assert.deepEqual((await postJob(node.url, key, 'counter')).body.result, { count: 2 }, key);
    }
    const johndoe = await postJob(node.url, 'johndoe', 'counter');
    assert.deepEqual(johndoe.body.result, { count: 1 }, 'johndoe is not JohnDoe');
  });

  test('the keys "." and ".." work for clients that send the path as written', async (t) => {
    // WHATWG URL parsers (fetch, browsers) resolve "." and ".." (also as %2E) as dot
    // segments, so only raw HTTP clients can address them; the server takes them.
    const node = await startHttpNode(t);
    const { port } = new URL(node.url);
    for (const [key, segment] of [['..', '%2E%2E'], ['.', '%2E']] as const) {
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: `/buckets/${segment}/jobs/counter` }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (chunk) => (text += chunk)).on('end', () => resolve(text));
        });
        req.on('error', reject).end();
      });
      assert.deepEqual(JSON.parse(body).result, { count: 1 }, key);
      assert.equal(await node.readItem(key, 'count').then((r) => r?.version.seq !== undefined), true);
    }
  });

  test('the customer example: add contacts, orders and favourites, then list them', async (t) => {
    const node = await startHttpNode(t, { jobs: (await import('../helpers/paths.js')).exampleJobs });
    await postJob(node.url, 'johndoe', 'customer-add', { type: 'contacts', record: { name: 'Ann', email: 'ann@example.com' } });
    await postJob(node.url, 'johndoe', 'customer-add', { type: 'contacts', record: { name: 'Bob' } });
    await postJob(node.url, 'johndoe', 'customer-add', { type: 'orders', record: { description: 'tea', amount: 3.5 } });
    const fav = await postJob(node.url, 'johndoe', 'customer-add', { type: 'favourites', record: { url: 'https://example.com' } });
    assert.equal(fav.body.result.count, 1);
    const { body } = await postJob(node.url, 'johndoe', 'customer-list');
    assert.deepEqual(body.result.contacts.map((c: { name: string; id: number }) => [c.id, c.name]), [[1, 'Ann'], [2, 'Bob']]);
    assert.equal(body.result.orders[0].amount, 3.5);
    assert.equal(typeof body.result.orders[0].addedAt, 'string');
    assert.equal(body.result.favourites.length, 1);
    const orders = await postJob(node.url, 'johndoe', 'customer-list', { type: 'orders' });
    assert.deepEqual(Object.keys(orders.body.result), ['orders']);
    const bad = await postJob(node.url, 'johndoe', 'customer-add', { type: 'invoices', record: {} });
    assert.equal(bad.body.error.code, 'GREX_ERR_JOB_FAILED');
  });
});

describe('node routes', () => {
  test('GET /route/:bucketKey names the flock, the active node and the herders', async (t) => {
    const node = await startHttpNode(t);
    const { status, body } = await requestJson(`${node.url}/route/${encodeURIComponent('johndoe')}`);
    assert.equal(status, 200);
    assert.deepEqual(body, { bucketKey: 'johndoe', flock: node.route('johndoe').flock, flocks: 1024, activeNode: node.url, herders: [node.url] });
  });

  test('GET /health and GET /ready', async (t) => {
    const node = await startHttpNode(t);
    const health = await requestJson(`${node.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    assert.equal(health.body.nodeId, node.nodeId);
    const ready = await requestJson(`${node.url}/ready`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.ready, true);
  });
});
