// The paced load generator of the benchmark (bench/paced-load.ts): requests go out at an even pace, not in
// bursts (autocannon's rate limit spends each second's budget at once), every one is answered and counted.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pacedLoad } from '../../../bench/paced-load.js';

async function serve(t: { after: (fn: () => Promise<void>) => void }, answer: (path: string) => number): Promise<{ url: string; arrivals: number[] }> {
  const arrivals: number[] = [];
  const server: Server = createServer((req, res) => {
    arrivals.push(performance.now());
    req.resume();
    req.on('end', () => {
      const body = '{"ok":true}';
      res.writeHead(answer(req.url ?? ''), { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals };
}

test('requests are released evenly over the run, each answered and timed', async (t) => {
  const { url, arrivals } = await serve(t, () => 200);
  const started = performance.now();
  const result = await pacedLoad({ url, rate: 200, durationSec: 1, connections: 4, timeoutSec: 10, next: () => ({ method: 'POST', path: '/x', body: '{"a":1}' }) });
  assert.equal(result.sent, 200);
  assert.equal(result.latencies.length, 200);
  assert.equal(result.releasedAt.length, 200);
  assert.deepEqual([result.non2xx, result.errors], [0, 0]);
  assert.equal(arrivals.length, 200);
  // Released by the clock: by half time at most half of them (plus the one due at the start) can have arrived.
  const firstHalf = arrivals.filter((at) => at - started < 500).length;
  assert.ok(firstHalf <= 101, `${firstHalf} of 200 arrived in the first half second`);
  assert.ok(result.elapsedSec >= 0.99, `the run took ${result.elapsedSec} s`);
  assert.ok(result.latencies.every((ms) => ms >= 0));
});

test('answers other than 2xx are counted apart, not as latencies', async (t) => {
  const { url } = await serve(t, (path) => (path === '/missing' ? 404 : 200));
  let i = 0;
  const result = await pacedLoad({ url, rate: 100, durationSec: 0.2, connections: 2, timeoutSec: 10, next: () => ({ method: 'GET', path: i++ % 2 === 0 ? '/missing' : '/ok' }) });
  assert.equal(result.sent, 20);
  assert.equal(result.non2xx, 10);
  assert.equal(result.latencies.length, 10);
  assert.equal(result.errors, 0);
});
