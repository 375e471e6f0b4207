// Raw item access over HTTP: PUT/GET/DELETE with versions, If-Match, listing, and
// items written over HTTP seen by jobs (and the other way round).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Packr } from 'msgpackr';
import { parseVersion, compareVersions } from '../../src/store/version.js';
import { postJob, requestJson, startHttpNode } from '../helpers/http.js';

const msgpack = new Packr({ useRecords: false });

describe('items over HTTP', () => {
  test('PUT, GET, list and DELETE a raw item, with versions', async (t) => {
    const node = await startHttpNode(t);
    const url = `${node.url}/buckets/${encodeURIComponent('cust/1')}/items/${encodeURIComponent('photo.png')}`;
    const put = await requestJson(url, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: new Uint8Array([137, 80, 78, 71]) });
    assert.equal(put.status, 200);
    const v1 = parseVersion(put.body.version)!;
    assert.ok(v1 !== null && v1.term === 1 && v1.seq >= 1);
    assert.equal(put.headers.get('grex-version'), put.body.version);

    const get = await fetch(url);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('content-type'), 'application/octet-stream');
    assert.equal(get.headers.get('grex-version'), put.body.version);
    assert.deepEqual(new Uint8Array(await get.arrayBuffer()), new Uint8Array([137, 80, 78, 71]));

    const again = await requestJson(url, { method: 'PUT', body: new Uint8Array([1]) });
    assert.equal(compareVersions(parseVersion(again.body.version)!, v1), 1);

    const list = await requestJson(`${node.url}/buckets/${encodeURIComponent('cust/1')}/items`);
    assert.deepEqual(list.body.items, [{ itemKey: 'photo.png', version: again.body.version, size: 1, encoding: 'raw' }]);

    const del = await requestJson(url, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal((await fetch(url)).status, 404);
    assert.deepEqual((await requestJson(`${node.url}/buckets/${encodeURIComponent('cust/1')}/items`)).body.items, []);
    assert.equal((await requestJson(url, { method: 'DELETE' })).status, 404);
  });

  test('If-Match writes only over the expected version; 0 means "only if absent"', async (t) => {
    const node = await startHttpNode(t);
    const url = `${node.url}/buckets/b/items/doc`;
    const created = await requestJson(url, { method: 'PUT', headers: { 'if-match': '0' }, body: 'one' });
    assert.equal(created.status, 200);
    const refused = await requestJson(url, { method: 'PUT', headers: { 'if-match': '0' }, body: 'two' });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'GREX_ERR_VERSION_CONFLICT');
    assert.equal(refused.body.error.data.version, created.body.version);
    const updated = await requestJson(url, { method: 'PUT', headers: { 'if-match': created.body.version }, body: 'three' });
    assert.equal(updated.status, 200);
    assert.equal(await (await fetch(url)).text(), 'three');
    const stale = await requestJson(url, { method: 'DELETE', headers: { 'if-match': created.body.version } });
    assert.equal(stale.status, 409);
    assert.equal(await (await fetch(url)).text(), 'three');
  });

  test('a msgpack item written over HTTP is a value in jobs, and a job\'s item reads back as msgpack', async (t) => {
    const node = await startHttpNode(t);
    const put = await fetch(`${node.url}/buckets/c/items/count`, { method: 'PUT', headers: { 'content-type': 'application/msgpack' }, body: msgpack.pack(41) });
    assert.equal(put.status, 200);
    assert.deepEqual((await postJob(node.url, 'c', 'counter')).body.result, { count: 42 });
    const get = await fetch(`${node.url}/buckets/c/items/count`);
    assert.equal(get.headers.get('content-type'), 'application/msgpack');
    assert.equal(msgpack.unpack(Buffer.from(await get.arrayBuffer())), 42);
  });

  test('a raw item written over HTTP is bytes in jobs', async (t) => {
    const node = await startHttpNode(t);
    await fetch(`${node.url}/buckets/r/items/note`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    assert.equal((await postJob(node.url, 'r', 'raw', { op: 'get', item: 'note' })).body.result, 'hello');
  });

  test('an HTTP write is seen by the next job although the bucket was cached', async (t) => {
    const node = await startHttpNode(t);
    assert.deepEqual((await postJob(node.url, 'cached', 'counter')).body.result, { count: 1 });
    await fetch(`${node.url}/buckets/cached/items/count`, { method: 'PUT', headers: { 'content-type': 'application/msgpack' }, body: msgpack.pack(100) });
    assert.deepEqual((await postJob(node.url, 'cached', 'counter')).body.result, { count: 101 });
    await fetch(`${node.url}/buckets/cached/items/count`, { method: 'DELETE' });
    assert.deepEqual((await postJob(node.url, 'cached', 'counter')).body.result, { count: 1 });
  });
});
