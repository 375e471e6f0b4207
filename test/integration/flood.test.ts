// Overload: one real node process with small limits is flooded for a few seconds
// by 600 connections sending big-but-allowed job bodies as fast as they get
// answers (far past its queues). It answers many 503 GREX_ERR_OVERLOADED with
// Retry-After, never crashes, its resident memory stays under a bound derived
// from its limits, every 503 is counted in its metrics, and afterwards it serves
// normally with every acknowledged job in the counters (nothing acknowledged lost).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { describe, test } from 'node:test';
import { Packr } from 'msgpackr';
import { parseMetrics, sample } from '../helpers/metrics.js';
import { postJob, requestJson } from '../helpers/http.js';
import { exampleJobs } from '../helpers/paths.js';
import { startNodeProcess } from '../helpers/processes.js';
import { tempDir } from '../helpers/temp-dir.js';

const CONNECTIONS = 600;
const FLOOD_MS = 3000;
const BODY_KIB = 512;
const BUCKETS = 40;
const MIB = 1024 * 1024;
const LIMITS = { maxHttpBodyMb: 8, cacheMb: 16, bodyLimitMb: 1 };

function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

interface Answer {
  status: number;
  retryAfter: string | undefined;
  code: string | undefined;
}

function post(agent: Agent, url: string, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.byteLength }, timeout: 60_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let code: string | undefined;
        if (res.statusCode !== 200) code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'], code });
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('a flooded node', () => {
  test('answers 503 GREX_ERR_OVERLOADED with Retry-After, keeps its memory bounded and loses nothing acknowledged', async (t) => {
    const data = await tempDir(t);
    const node = await startNodeProcess(t, [
      ...['--http', '127.0.0.1:0', '--data', data, '--jobs', exampleJobs, '--workers', '1'],
      ...['--max-queued-jobs', '32', '--max-queued-per-bucket', '4', '--max-http-requests', '64'],
      ...['--max-http-body-mb', String(LIMITS.maxHttpBodyMb), '--cache-mb', String(LIMITS.cacheMb), '--body-limit-mb', String(LIMITS.bodyLimitMb)],
    ]);
    const pid = node.child.pid!;
    assert.equal((await postJob(node.url, 'warm-up', 'counter')).status, 200);
    const baseline = rssOf(pid);
    // What the limits let the node hold on top of what it held idle: the admitted bodies
    // (held as received bytes, as a string, copied to the job thread and parsed there: 4x);
    // the job thread's heap and the main thread's growing with those bodies before they
    // collect them (V8 lets a heap grow by tens of MiB between collections: 64 MiB each;
    // since refused big bodies are no longer read, over a thousand bodies are admitted in
    // the flood); the object cache; the write-ahead log's pending bytes (64 MiB at most); and
    // a socket's buffers (64 KiB) per connection. Without admission the same flood held every
    // body it read: about 600 MiB.
    const bound =
      baseline + 4 * LIMITS.maxHttpBodyMb * MIB + 2 * 64 * MIB + LIMITS.cacheMb * MIB + 64 * MIB + CONNECTIONS * 64 * 1024;

    const body = Buffer.from(JSON.stringify({ by: 1, pad: 'x'.repeat(BODY_KIB * 1024) }));
    assert.ok(body.byteLength < LIMITS.bodyLimitMb * MIB, 'each body is allowed');
    const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    t.after(() => agent.destroy());
    let peakRss = baseline;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssOf(pid))), 20);
    const acknowledged = new Map<string, number>();
    const statuses = new Map<number, number>();
    const refusals: Answer[] = [];
    const deadline = Date.now() + FLOOD_MS;
    // Midway, a client on a fresh connection: how long its answer takes (reported, not asserted).
    const probe = new Promise<string>((resolve) =>
      setTimeout(async () => {
        const started = performance.now();
        const answer = await postJob(node.url, 'probe', 'counter');
        resolve(`a fresh connection got ${answer.status} in ${Math.round(performance.now() - started)} ms`);
      }, FLOOD_MS / 2),
    );
    try {
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async (_, i) => {
          const bucket = `flood-${i % BUCKETS}`;
          while (Date.now() < deadline) {
            const answer = await post(agent, `${node.url}/buckets/${bucket}/jobs/counter`, body);
            statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
            if (answer.status === 200) acknowledged.set(bucket, (acknowledged.get(bucket) ?? 0) + 1);
            else refusals.push(answer);
          }
        }),
      );
    } finally {
      clearInterval(sampler);
    }
    peakRss = Math.max(peakRss, rssOf(pid));
    const summary = `answers ${JSON.stringify(Object.fromEntries(statuses))}, RSS ${Math.round(baseline / MIB)} MiB idle, ${Math.round(peakRss / MIB)} MiB peak, bound ${Math.round(bound / MIB)} MiB; ${await probe}`;
    t.diagnostic(summary);

    assert.equal(node.child.exitCode, null, 'the node is still running');
    assert.deepEqual([...statuses.keys()].sort(), [200, 503], summary);
    assert.ok(refusals.length >= 100, `many 503s (${summary})`);
    for (const refusal of refusals) {
      assert.equal(refusal.code, 'GREX_ERR_OVERLOADED');
      assert.equal(refusal.retryAfter, '1');
    }
    assert.ok(peakRss < bound, summary);

    // Every 503 is in the metrics, by the limit it hit.
    const metrics = parseMetrics(await (await fetch(`${node.url}/metrics`)).text());
    const counted = ['http', 'node', 'bucket'].reduce((sum, scope) => sum + (sample(metrics, 'grex_overloaded_total', { scope }) ?? 0), 0);
    assert.equal(counted, refusals.length);
    assert.equal(sample(metrics, 'grex_http_requests_in_flight'), 0, 'every admitted request was answered (the scrape itself is not counted)');
    assert.equal(sample(metrics, 'grex_jobs_queued'), 0);

    // It serves normally again, and every acknowledged job is in its bucket's counter.
    assert.equal((await requestJson(`${node.url}/ready`)).status, 200);
    assert.deepEqual((await postJob(node.url, 'after', 'counter', { by: 5 })).body.result, { count: 5 });
    const msgpack = new Packr({ useRecords: false, mapsAsObjects: true });
    let total = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const bucket = `flood-${i}`;
      const response = await fetch(`${node.url}/buckets/${bucket}/items/count`);
      const stored = response.status === 404 ? 0 : (msgpack.unpack(Buffer.from(await response.arrayBuffer())) as number);
      assert.equal(stored, acknowledged.get(bucket) ?? 0, `bucket ${bucket}`);
      total += stored;
    }
    assert.ok(total > 0, 'some jobs got through the flood');
  });
});
