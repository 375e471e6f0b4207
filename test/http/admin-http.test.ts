// The admin token (src/http/admin-guard.ts): admin routes answer 401
// GREX_ERR_UNAUTHORIZED without the token or with a wrong one and work with
// it; reads are protected only with protectReads; other routes never need
// it; without a token configured nothing is protected; an embedding app can
// put its own routes behind the guard; `grex status` sends the token from
// --admin-token or GREX_ADMIN_TOKEN.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import { adminGuard, bearerToken, needsToken, tokenMatches } from '../../src/http/admin-guard.js';
import { sendError } from '../../src/http/replies.js';
import { postJob, requestJson, startHttpNode, type JsonAnswer } from '../helpers/http.js';
import { runCli } from '../helpers/processes.js';

const TOKEN = 'admin-token-of-this-test-0123456789';

function bearer(token: string): RequestInit {
  return { headers: { authorization: `Bearer ${token}` } };
}

function putFaults(url: string, init: RequestInit = {}): Promise<JsonAnswer> {
  return requestJson(`${url}/debug/faults`, {
    method: 'PUT',
    ...init,
    headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
    body: JSON.stringify({ blocked: [] }),
  });
}

function assertUnauthorized(answer: JsonAnswer, message: RegExp): void {
  assert.equal(answer.status, 401, JSON.stringify(answer.body));
  assert.equal(answer.body.error.code, 'GREX_ERR_UNAUTHORIZED');
  assert.match(answer.body.error.message, message);
  assert.equal(answer.headers.get('www-authenticate'), 'Bearer realm="grex"');
}

describe('admin token', () => {
  test('a mutating admin endpoint needs the token: 401 without it or with a wrong one, 200 with it', async (t) => {
    const node = await startHttpNode(t, { adminToken: TOKEN, faultInjection: true });
    assertUnauthorized(await putFaults(node.url), /PUT \/debug\/faults needs the admin token/);
    assertUnauthorized(await putFaults(node.url, bearer('wrong-token-of-the-same-length-00')), /wrong admin token/);
    assertUnauthorized(await putFaults(node.url, bearer(`${TOKEN}x`)), /wrong admin token/);
    assertUnauthorized(await putFaults(node.url, { headers: { authorization: TOKEN } }), /needs the admin token/);
    assertUnauthorized(await putFaults(node.url, { headers: { authorization: `Basic ${TOKEN}` } }), /needs the admin token/);
    const ok = await putFaults(node.url, bearer(TOKEN));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body, { blocked: [] });
    assert.equal((await putFaults(node.url, { headers: { authorization: `bearer  ${TOKEN} ` } })).status, 200, 'the scheme is case-insensitive');
  });

  test('without protectReads, reads and jobs need no token; with a token they still work', async (t) => {
    const node = await startHttpNode(t, { adminToken: TOKEN });
    assert.equal((await requestJson(`${node.url}/cluster`)).status, 200);
    assert.equal((await requestJson(`${node.url}/cluster/flocks/3`)).status, 200);
    assert.equal((await requestJson(`${node.url}/health`)).status, 200);
    assert.equal((await postJob(node.url, 'b', 'counter')).status, 200);
    assert.equal((await requestJson(`${node.url}/cluster`, bearer(TOKEN))).status, 200);
  });

  test('with protectReads, the cluster views need the token too; health, routing, jobs and items do not', async (t) => {
    const node = await startHttpNode(t, { adminToken: TOKEN, protectReads: true });
    assertUnauthorized(await requestJson(`${node.url}/cluster`), /GET \/cluster needs the admin token/);
    assertUnauthorized(await requestJson(`${node.url}/cluster/flocks/3`), /needs the admin token/);
    assertUnauthorized(await requestJson(`${node.url}/cluster`, bearer('a-wrong-token-0000000000')), /wrong admin token/);
    const view = await requestJson(`${node.url}/cluster`, bearer(TOKEN));
    assert.equal(view.status, 200);
    assert.equal(view.body.nodeId, node.nodeId);
    assert.equal((await requestJson(`${node.url}/cluster/flocks/3`, bearer(TOKEN))).body.flock, 3);
    for (const path of ['/health', '/ready', '/route/b', '/buckets/b/items']) assert.equal((await requestJson(`${node.url}${path}`)).status, 200, path);
    assert.equal((await postJob(node.url, 'b', 'counter')).status, 200);
  });

  test('a node without an admin token protects nothing', async (t) => {
    const node = await startHttpNode(t, { faultInjection: true });
    assert.equal((await putFaults(node.url)).status, 200);
    assert.equal((await putFaults(node.url, bearer('anything-at-all-goes-here'))).status, 200);
  });

  test('the request body of a refused call is not read: a body past the limit still gets 401', async (t) => {
    const node = await startHttpNode(t, { adminToken: TOKEN, faultInjection: true, bodyLimitMb: 0.001 });
    const answer = await requestJson(`${node.url}/debug/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(10_000) });
    assertUnauthorized(answer, /needs the admin token/);
  });

  test('an app can put its own routes behind the guard with config.admin', async () => {
    const app = Fastify();
    app.setErrorHandler((err, request, reply) => sendError(request, reply, err));
    // #region guard-own-routes
    app.addHook('onRequest', adminGuard({ token: TOKEN, protectReads: false }));
    app.post('/ops/rebalance', { config: { admin: 'write' } }, async () => ({ done: true }));
    app.get('/ops/view', { config: { admin: 'read' } }, async () => ({ view: true }));
    // #endregion guard-own-routes
    app.get('/open', async () => ({ open: true }));
    const refused = await app.inject({ method: 'POST', url: '/ops/rebalance' });
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.json().error.code, 'GREX_ERR_UNAUTHORIZED');
    assert.deepEqual((await app.inject({ method: 'POST', url: '/ops/rebalance', headers: { authorization: `Bearer ${TOKEN}` } })).json(), { done: true });
    assert.equal((await app.inject({ method: 'GET', url: '/ops/view' })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/open' })).statusCode, 200);
    await app.close();
  });

  test('grex status sends the token from --admin-token or GREX_ADMIN_TOKEN', async (t) => {
    const node = await startHttpNode(t, { adminToken: TOKEN, protectReads: true });
    const without = await runCli(['status', '--url', node.url]);
    assert.equal(without.code, 1);
    assert.match(without.stderr, /GREX_ERR_UNAUTHORIZED/);
    const wrong = await runCli(['status', '--url', node.url, '--admin-token', 'not-the-token-000000']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /GREX_ERR_UNAUTHORIZED: wrong admin token/);
    const withFlag = await runCli(['status', '--url', node.url, '--admin-token', TOKEN]);
    assert.equal(withFlag.code, 0, withFlag.stderr);
    assert.equal(JSON.parse(withFlag.stdout).cluster.nodeId, node.nodeId);
    const withEnv = await runCli(['status', '--url', node.url], { env: { GREX_ADMIN_TOKEN: TOKEN } });
    assert.equal(withEnv.code, 0, withEnv.stderr);
    assert.equal(JSON.parse(withEnv.stdout).cluster.nodeId, node.nodeId);
  });
});

describe('admin guard parts', () => {
  test('bearerToken takes the token of a Bearer header only', () => {
    assert.equal(bearerToken(`Bearer ${TOKEN}`), TOKEN);
    assert.equal(bearerToken(`bearer\t${TOKEN}  `), TOKEN);
    assert.equal(bearerToken(undefined), undefined);
    assert.equal(bearerToken(TOKEN), undefined);
    assert.equal(bearerToken(`Basic ${TOKEN}`), undefined);
    assert.equal(bearerToken('Bearer '), undefined);
    assert.equal(bearerToken('Bearer a b'), undefined);
  });

  test('tokenMatches compares whole tokens, whatever their lengths', () => {
    assert.equal(tokenMatches(TOKEN, TOKEN), true);
    assert.equal(tokenMatches(TOKEN.slice(0, -1), TOKEN), false);
    assert.equal(tokenMatches(`${TOKEN}0`, TOKEN), false);
    assert.equal(tokenMatches('', TOKEN), false);
  });

  test('needsToken: write routes when a token is set, read routes only with protectReads, others never', () => {
    assert.equal(needsToken('write', { token: TOKEN }), true);
    assert.equal(needsToken('read', { token: TOKEN }), false);
    assert.equal(needsToken('read', { token: TOKEN, protectReads: true }), true);
    assert.equal(needsToken(undefined, { token: TOKEN, protectReads: true }), false);
    assert.equal(needsToken('write', {}), false);
    assert.equal(needsToken('read', { protectReads: true }), false);
  });
});
