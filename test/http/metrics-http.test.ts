// GET /metrics of one node after a workload: job counts by job and outcome, job
// latency, cache hits and misses, store items and bytes, log writes, queues, flocks, members
// and the process metrics; a 300 ms block of the event loop in the max lag of the
// next scrape; and the admission limits (GREX_ERR_OVERLOADED at once,
// monitoring routes still served, counted in grex_overloaded_total; a large refused
// body closes its connection instead of being read).
import assert from 'node:assert/strict';
import { access, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseMetrics, sample } from '../helpers/metrics.js';
import { postJob, requestJson, startHttpNode } from '../helpers/http.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

/** A POST on `agent`'s connections: status, Retry-After, the Connection header of the answer and the error code. */
function rawPost(agent: Agent, url: string, body: Buffer): Promise<{ status: number; retryAfter?: string; connection?: string; code?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.byteLength } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'], connection: res.headers.connection, ...(code === undefined ? {} : { code }) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function scrape(url: string) {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await response.text());
}

describe('GET /metrics', () => {
  test('counts a workload: jobs by outcome, latency, cache, store, queues, flocks and members', async (t) => {
    const node = await startHttpNode(t, { workers: 2, flocks: 16 });
    for (let i = 0; i < 20; i++) assert.equal((await postJob(node.url, 'a', 'counter', { by: 1 })).status, 200);
    for (let i = 0; i < 10; i++) assert.equal((await postJob(node.url, 'b', 'counter', { by: 1 })).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await postJob(node.url, 'f', 'fail')).status, 422);
    assert.equal((await postJob(node.url, 'a', 'no-such-job')).status, 404);

    // Committed items reach their files behind the write-ahead log: wait until the store shows them.
    const samples = await waitFor(async () => {
      const s = await scrape(node.url);
      return sample(s, 'grex_store_items') === 2 && sample(s, 'grex_store_pending_bytes') === 0 ? s : undefined;
    }, { what: 'the two count items in the store' });
    assert.equal(sample(samples, 'grex_jobs_total', { job: 'counter', outcome: 'ok' }), 30);
    assert.equal(sample(samples, 'grex_jobs_total', { job: 'fail', outcome: 'job_failed' }), 2);
    assert.equal(sample(samples, 'grex_jobs_total', { job: '_unknown', outcome: 'job_not_found' }), 1, 'unknown job names never become label values');
    assert.equal(sample(samples, 'grex_job_duration_seconds_count', { job: 'counter' }), 30);
    assert.ok(sample(samples, 'grex_job_duration_seconds_sum', { job: 'counter' })! > 0);
    assert.equal(sample(samples, 'grex_job_duration_seconds_bucket', { job: 'counter', le: '+Inf' }), 30);
    // counter reads `count` once per job: the first job of each bucket misses, the rest hit
    // (fail reads two items of its bucket, twice, and drops them when it throws).
    assert.equal(sample(samples, 'grex_cache_hits_total'), 19 + 9);
    assert.equal(sample(samples, 'grex_cache_misses_total'), 2 + 4);
    assert.ok(sample(samples, 'grex_cache_bytes')! > 0);
    assert.equal(sample(samples, 'grex_cache_max_bytes'), 256 * 1024 * 1024);
    assert.ok(sample(samples, 'grex_store_bytes')! > 0);
    assert.equal(sample(samples, 'grex_store_counted'), 1);
    assert.equal(sample(samples, 'grex_jobs_queued'), 0);
    assert.equal(sample(samples, 'grex_buckets_queued'), 0);
    assert.equal(sample(samples, 'grex_flocks_herded'), 16);
    assert.equal(sample(samples, 'grex_flocks_active'), 16);
    const flocksTouched = new Set(['a', 'b', 'f'].map((b) => node.route(b).flock)).size;
    assert.equal(sample(samples, 'grex_flocks_led'), flocksTouched);
    assert.equal(sample(samples, 'grex_flocks_holding'), flocksTouched, 'a flock is held once it was claimed');
    assert.equal(sample(samples, 'grex_members', { state: 'alive' }), 1);
    assert.equal(sample(samples, 'grex_quorum_failures_total'), 0);
    // Each successful counter job is one commit in the write-ahead log; the failed ones wrote nothing.
    assert.equal(sample(samples, 'grex_log_commits_total'), 30);
    const batches = sample(samples, 'grex_log_write_seconds_count')!;
    assert.ok(batches >= 1 && batches <= 30, `${batches} log batches for 30 commits`);
    assert.equal(sample(samples, 'grex_log_write_seconds_bucket', { le: '+Inf' }), batches);
    assert.ok(sample(samples, 'grex_log_write_seconds_sum')! > 0);
    assert.equal(sample(samples, 'grex_http_requests_in_flight'), 0);
    assert.ok(sample(samples, 'grex_process_resident_memory_bytes')! > 0);
    for (const stat of ['max', 'p99', 'p50']) assert.ok(sample(samples, 'grex_event_loop_lag_seconds', { stat })! >= 0, stat);
    assert.equal(sample(samples, 'grex_nodejs_eventloop_lag_seconds'), undefined, 'prom-client\'s own lag series are left out');
  });

  test('a 300 ms block of the event loop shows as a max lag of about 0.3 s at the next scrape', async (t) => {
    const node = await startHttpNode(t);
    await scrape(node.url); // starts a new window
    const started = performance.now();
    while (performance.now() - started < 300) {
      // the node's event loop (this process's) stands still
    }
    const samples = await scrape(node.url);
    const max = sample(samples, 'grex_event_loop_lag_seconds', { stat: 'max' })!;
    assert.ok(max >= 0.25, `max lag ${max} s after a 300 ms block`);
    assert.ok(sample(samples, 'grex_event_loop_lag_seconds', { stat: 'p99' })! <= max);
  });
});

describe('admission', () => {
  test('past maxHttpRequests a request gets 503 GREX_ERR_OVERLOADED with Retry-After; monitoring routes are still served', async (t) => {
    const dir = await tempDir(t);
    const node = await startHttpNode(t, { maxHttpRequests: 2 });
    const release = join(dir, 'go');
    const held = [0, 1].map((i) => postJob(node.url, `held-${i}`, 'wait-file', { path: release, mark: join(dir, `started-${i}`) }));
    await waitFor(async () => (await Promise.all([0, 1].map((i) => access(join(dir, `started-${i}`)).then(() => true, () => false)))).every(Boolean), {
      what: 'both held jobs to run',
    });
    const refused = await postJob(node.url, 'other', 'counter');
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(refused.body.error.code, 'GREX_ERR_OVERLOADED');
    assert.equal(refused.body.error.data.scope, 'http');
    // On a keep-alive connection: a small refused body is read and the connection kept; a large one is not read, the connection is closed.
    const agent = new Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const small = await rawPost(agent, `${node.url}/buckets/other/jobs/counter`, Buffer.from('{"by":1}'));
    assert.deepEqual([small.status, small.retryAfter, small.connection], [503, '1', 'keep-alive']);
    const large = await rawPost(agent, `${node.url}/buckets/other/jobs/counter`, Buffer.from(JSON.stringify({ pad: 'x'.repeat(512 * 1024) })));
    assert.deepEqual([large.status, large.retryAfter, large.connection, large.code], [503, '1', 'close', 'GREX_ERR_OVERLOADED']);
    assert.equal((await requestJson(`${node.url}/health`)).status, 200);
    assert.equal((await requestJson(`${node.url}/cluster`)).status, 200);
    const samples = await scrape(node.url);
    assert.equal(sample(samples, 'grex_overloaded_total', { scope: 'http' }), 3);
    assert.equal(sample(samples, 'grex_http_requests_in_flight'), 2);
    await writeFile(release, '');
    for (const answer of await Promise.all(held)) assert.equal(answer.status, 200);
    await waitFor(async () => sample(await scrape(node.url), 'grex_http_requests_in_flight') === 0, { what: 'the held requests to be done' });
    assert.equal((await postJob(node.url, 'other', 'counter')).status, 200, 'served again once there is room');
  });

  test('past maxHttpBodyMb of bodies a request with a body gets 503; one without a body is served', async (t) => {
    const dir = await tempDir(t);
    const node = await startHttpNode(t, { maxHttpBodyMb: 1 / 1024 }); // 1 KiB
    const release = join(dir, 'go');
    const pad = 'x'.repeat(700);
    const held = postJob(node.url, 'held', 'wait-file', { path: release, mark: join(dir, 'started'), pad });
    await waitFor(() => access(join(dir, 'started')).then(() => true, () => false), { what: 'the held job to run' });
    const refused = await postJob(node.url, 'other', 'echo', { pad });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'GREX_ERR_OVERLOADED');
    assert.equal((await requestJson(`${node.url}/route/other`)).status, 200);
    assert.equal((await postJob(node.url, 'small', 'echo', 1)).status, 200, 'a small body still fits');
    await writeFile(release, '');
    assert.equal((await held).status, 200);
    assert.equal((await postJob(node.url, 'other', 'echo', { pad })).status, 200);
  });
});
