// Every error a request can cause, produced by a real bad request: the code, the
// status, the { error: { code, message } } body, and that the node keeps serving.
// The last test checks that these requests cover every HTTP error code of the catalogue.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { ERRORS, type ErrorCode } from '../../src/errors.js';
import { CLUSTER_ERROR_CODES } from '../helpers/cluster-error-codes.js';
import type { GrexNode } from '../../src/grex-node.js';
import { grexRoutes } from '../../src/http/server.js';
import { decodeItemRecord } from '../../src/store/item-record.js';
import { encodeKeyName } from '../../src/store/key-names.js';
import { postJob, requestJson, startHttpNode, type JsonAnswer } from '../helpers/http.js';
import { startTestNode } from '../helpers/nodes.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';
import { suiteContext } from '../helpers/suite.js';

const seen = new Set<string>();

/** Asserts the answer is a Grex error with that code and status, and records the code. */
function assertError(answer: { status: number; body: any; headers?: Headers }, code: ErrorCode, status: number): void {
  assert.equal(answer.body?.error?.code, code, JSON.stringify(answer.body));
  assert.equal(answer.status, status);
  assert.equal(typeof answer.body.error.message, 'string');
  assert.ok(answer.body.error.message.length > 0);
  seen.add(code);
}

describe('HTTP errors', () => {
  let node: GrexNode;
  let data: string;
  const suite = suiteContext();

  before(async () => {
    data = await tempDir(suite);
    // Item files written 100 ms after a commit, not after the default interval: a test damages one.
    node = await startHttpNode(suite, { data, jobTimeoutMs: 1500, bodyLimitMb: 0.01, itemLimitMb: 0.005, maxQueuedPerBucket: 0, coalesceMs: 100 });
  });

  test('invalid keys: GREX_ERR_KEY_INVALID (400)', async () => {
    assertError(await postJob(node.url, 'x'.repeat(257), 'counter'), 'GREX_ERR_KEY_INVALID', 400);
    assertError(await requestJson(`${node.url}/buckets/a%00b/jobs/counter`, { method: 'POST' }), 'GREX_ERR_KEY_INVALID', 400);
    assertError(await requestJson(`${node.url}/buckets/b/items/${'é'.repeat(129)}`), 'GREX_ERR_KEY_INVALID', 400);
    assertError(await requestJson(`${node.url}/route/${'x'.repeat(300)}`), 'GREX_ERR_KEY_INVALID', 400);
  });

  test('a malformed URL: GREX_ERR_URL_INVALID (400)', async () => {
    assertError(await requestJson(`${node.url}/buckets/%E0%A4%A/jobs/counter`, { method: 'POST' }), 'GREX_ERR_URL_INVALID', 400);
  });

  test('an unknown route: GREX_ERR_ROUTE_NOT_FOUND (404)', async () => {
    assertError(await requestJson(`${node.url}/nowhere`), 'GREX_ERR_ROUTE_NOT_FOUND', 404);
    assertError(await requestJson(`${node.url}/buckets/a/jobs/counter`), 'GREX_ERR_ROUTE_NOT_FOUND', 404);
  });

  test('job names: GREX_ERR_JOB_NAME_INVALID (400) and GREX_ERR_JOB_NOT_FOUND (404)', async () => {
    assertError(await postJob(node.url, 'a', 'Counter'), 'GREX_ERR_JOB_NAME_INVALID', 400);
    assertError(await postJob(node.url, 'a', '../etc'), 'GREX_ERR_JOB_NAME_INVALID', 400);
    assertError(await postJob(node.url, 'a', 'no-such-job'), 'GREX_ERR_JOB_NOT_FOUND', 404);
  });

  test('malformed JSON and msgpack bodies: GREX_ERR_BODY_MALFORMED (400)', async () => {
    assertError(await postJob(node.url, 'a', 'echo', undefined, { body: '{"unclosed": ' }), 'GREX_ERR_BODY_MALFORMED', 400);
    const badMsgpack = await fetch(`${node.url}/buckets/a/jobs/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/msgpack', accept: 'application/json' },
      body: new Uint8Array([0x92, 0x01]),
    });
    assertError({ status: badMsgpack.status, body: await badMsgpack.json() }, 'GREX_ERR_BODY_MALFORMED', 400);
    const badItem = await requestJson(`${node.url}/buckets/a/items/x`, {
      method: 'PUT',
      headers: { 'content-type': 'application/msgpack', accept: 'application/json' },
      body: new Uint8Array([0xd9]),
    });
    assertError(badItem, 'GREX_ERR_BODY_MALFORMED', 400);
  });

  test('an error answers in msgpack when the request was msgpack', async () => {
    const response = await fetch(`${node.url}/buckets/a/jobs/no-such-job`, {
      method: 'POST',
      headers: { 'content-type': 'application/msgpack' },
      body: new Uint8Array([0xc0]),
    });
    assert.equal(response.status, 404);
    const { Packr } = await import('msgpackr');
    const body = new Packr({ useRecords: false }).unpack(Buffer.from(await response.arrayBuffer()));
    assert.equal(body.error.code, 'GREX_ERR_JOB_NOT_FOUND');
  });

  test('an oversized body: GREX_ERR_BODY_TOO_LARGE (413)', async () => {
    assertError(await postJob(node.url, 'a', 'echo', { s: 'x'.repeat(20_000) }), 'GREX_ERR_BODY_TOO_LARGE', 413);
  });

  test('a content type other than JSON or msgpack: GREX_ERR_MEDIA_TYPE_UNSUPPORTED (415)', async () => {
    assertError(
      await requestJson(`${node.url}/buckets/a/jobs/echo`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' }),
      'GREX_ERR_MEDIA_TYPE_UNSUPPORTED',
      415,
    );
  });

  test('a job that throws: GREX_ERR_JOB_FAILED (422) with the job\'s message', async () => {
    const answer = await postJob(node.url, 'a', 'fail', { message: 'out of stock' });
    assertError(answer, 'GREX_ERR_JOB_FAILED', 422);
    assert.equal(answer.body.error.message, 'out of stock');
  });

  test('a job that never returns: GREX_ERR_JOB_TIMEOUT (504), and the node keeps serving', async () => {
    assertError(await postJob(node.url, 'spinner', 'spin', { spin: true }), 'GREX_ERR_JOB_TIMEOUT', 504);
    assert.deepEqual((await postJob(node.url, 'spinner', 'counter')).body.result, { count: 1 });
  });

  test('a result JSON cannot encode: GREX_ERR_JOB_RESULT_INVALID (500)', async () => {
    assertError(await postJob(node.url, 'a', 'bad-result', { kind: 'bigint' }), 'GREX_ERR_JOB_RESULT_INVALID', 500);
    assert.equal((await postJob(node.url, 'a', 'read', { item: 'touched' })).body.result, null);
  });

  test('an item value msgpack cannot encode: GREX_ERR_ITEM_VALUE_INVALID (422)', async () => {
    assertError(await postJob(node.url, 'a', 'bad-item'), 'GREX_ERR_ITEM_VALUE_INVALID', 422);
  });

  test('items: GREX_ERR_ITEM_NOT_FOUND (404), GREX_ERR_ITEM_TOO_LARGE (413)', async () => {
    assertError(await requestJson(`${node.url}/buckets/a/items/missing`), 'GREX_ERR_ITEM_NOT_FOUND', 404);
    assertError(await postJob(node.url, 'a', 'big-item', { bytes: 10_000 }), 'GREX_ERR_ITEM_TOO_LARGE', 413);
    assertError(await requestJson(`${node.url}/buckets/a/items/big`, { method: 'PUT', body: 'x'.repeat(8000) }), 'GREX_ERR_ITEM_TOO_LARGE', 413);
  });

  test('versions: GREX_ERR_VERSION_INVALID (400), GREX_ERR_VERSION_CONFLICT (409)', async () => {
    const url = `${node.url}/buckets/v/items/doc`;
    assertError(await requestJson(url, { method: 'PUT', headers: { 'if-match': 'yesterday' }, body: 'x' }), 'GREX_ERR_VERSION_INVALID', 400);
    assertError(await requestJson(url, { method: 'PUT', headers: { 'if-match': '1-999999' }, body: 'x' }), 'GREX_ERR_VERSION_CONFLICT', 409);
  });

  test('a full queue: GREX_ERR_OVERLOADED (503) with Retry-After', async () => {
    // maxQueuedPerBucket is 0: a second job while one runs is refused at once.
    const running = postJob(node.url, 'hot', 'spin', { spin: true });
    let answer: JsonAnswer;
    do answer = await postJob(node.url, 'hot', 'counter');
    while (answer.status === 200); // the spinning job may not have been queued yet
    assertError(answer, 'GREX_ERR_OVERLOADED', 503);
    assert.equal(answer.headers.get('retry-after'), '1');
    assert.equal((await running).body.error.code, 'GREX_ERR_JOB_TIMEOUT');
  });

  test('a corrupt item file: GREX_ERR_STORE_CORRUPT (500), for reads and for jobs', async () => {
    await postJob(node.url, 'damaged', 'counter', { by: 7 });
    const committed = await node.readItem('damaged', 'count');
    const flock = node.route('damaged').flock;
    const file = join(data, 'flocks', String(flock), encodeKeyName('damaged'), encodeKeyName('count'));
    // Commits reach item files shortly after the write-ahead log: wait for this one.
    const bytes = await waitFor(async () => {
      const onDisk = await readFile(file).catch(() => undefined);
      return onDisk !== undefined && decodeItemRecord(onDisk, file).version.seq === committed!.version.seq && onDisk;
    }, { what: 'the item file to be written' });
    bytes[bytes.length - 1]! ^= 0xff;
    await writeFile(file, bytes);
    assertError(await requestJson(`${node.url}/buckets/damaged/items/count`), 'GREX_ERR_STORE_CORRUPT', 500);
    // The job's thread still caches the value; a write elsewhere in the bucket makes it read the file again.
    await requestJson(`${node.url}/buckets/damaged/items/other`, { method: 'PUT', body: 'x' });
    assertError(await postJob(node.url, 'damaged', 'counter'), 'GREX_ERR_STORE_CORRUPT', 500);
    assert.deepEqual((await postJob(node.url, 'healthy', 'counter')).body.result, { count: 1 });
  });

  test('an item the disk cannot read: GREX_ERR_STORE_IO (500), and the node keeps serving', async () => {
    const flock = node.route('unreadable').flock;
    // A folder where the item's file should be: reading it fails with EISDIR.
    const path = join(data, 'flocks', String(flock), encodeKeyName('unreadable'), encodeKeyName('count'));
    await mkdir(path, { recursive: true });
    assertError(await postJob(node.url, 'unreadable', 'counter'), 'GREX_ERR_STORE_IO', 500);
    assertError(await requestJson(`${node.url}/buckets/unreadable/items/count`), 'GREX_ERR_STORE_IO', 500);
    await rm(path, { recursive: true });
    assert.deepEqual((await postJob(node.url, 'unreadable', 'counter')).body.result, { count: 1 });
  });

  test('an app that embeds the routes answers GREX_ERR_SHUTTING_DOWN and GREX_ERR_NOT_READY (503) while its node stops', async (t) => {
    const embedded = await startTestNode(t);
    const app = Fastify();
    await app.register(grexRoutes, { node: embedded, prefix: '/grex' });
    const dir = await tempDir(t);
    const release = join(dir, 'release');
    const started = join(dir, 'started');
    const held = embedded.submit('h', 'wait-file', { path: release, mark: started });
    await waitFor(() => existsSync(started), { what: 'the held job to start' });
    const stopping = embedded.stop();
    const job = await app.inject({ method: 'POST', url: '/grex/buckets/h/jobs/counter' });
    assertError({ status: job.statusCode, body: job.json() }, 'GREX_ERR_SHUTTING_DOWN', 503);
    assert.equal(job.headers['retry-after'], '1');
    const ready = await app.inject({ method: 'GET', url: '/grex/ready' });
    assertError({ status: ready.statusCode, body: ready.json() }, 'GREX_ERR_NOT_READY', 503);
    await writeFile(release, '');
    await held;
    await stopping;
    await app.close();
  });

  test('rebalancing admin calls: GREX_ERR_UNKNOWN_MEMBER (404), GREX_ERR_MEMBER_ALIVE (409), GREX_ERR_PLAN_INVALID (400)', async () => {
    const post = (path: string) => requestJson(`${node.url}${path}`, { method: 'POST' });
    assertError(await post('/cluster/members/nobody/remove'), 'GREX_ERR_UNKNOWN_MEMBER', 404);
    assertError(await post(`/cluster/members/${node.nodeId}/remove`), 'GREX_ERR_MEMBER_ALIVE', 409);
    const plan = (farms: unknown) =>
      requestJson(`${node.url}/cluster/farm`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ farms }) });
    assertError(await plan({ [node.nodeId]: '0-511' }), 'GREX_ERR_PLAN_INVALID', 400); // flocks 512-1023 left without a herder
    assertError(await plan({ [node.nodeId]: '0-1023', stranger: '0' }), 'GREX_ERR_PLAN_INVALID', 400);
    assertError(await plan({ [node.nodeId]: '0-2000' }), 'GREX_ERR_PLAN_INVALID', 400);
    assertError(await plan('0-1023'), 'GREX_ERR_PLAN_INVALID', 400);
    // A refused plan changed nothing: the node still runs in auto mode.
    assert.equal((await requestJson(`${node.url}/cluster`)).body.mode, 'auto');
  });

  test('an admin endpoint without the admin token: GREX_ERR_UNAUTHORIZED (401)', async () => {
    const app = Fastify();
    await app.register(grexRoutes, { node, admin: { token: 'admin-token-0123456789' } });
    const answer = await app.inject({ method: 'PUT', url: '/debug/faults', payload: { blocked: [] } });
    assertError({ status: answer.statusCode, body: answer.json() }, 'GREX_ERR_UNAUTHORIZED', 401);
    assert.equal(answer.headers['www-authenticate'], 'Bearer realm="grex"');
    await app.close();
  });

  test('every HTTP error code in the catalogue is produced by one of these requests', () => {
    // GREX_ERR_INTERNAL is a bug; GREX_ERR_JOB_DATA_INVALID only arises in process
    // (HTTP data is JSON or msgpack, which always reaches the job). Errors that need
    // several nodes are produced by test/cluster/cluster-errors.test.ts (over HTTP) and
    // test/cluster/memory-cluster.test.ts.
    const elsewhere = new Set<string>(['GREX_ERR_INTERNAL', 'GREX_ERR_JOB_DATA_INVALID', ...CLUSTER_ERROR_CODES]);
    const expected = Object.entries(ERRORS)
      .filter(([code, spec]) => spec.status !== null && !elsewhere.has(code))
      .map(([code]) => code);
    assert.deepEqual(expected.filter((code) => !seen.has(code)), []);
  });
});
