/**
 * examples/in-process/main.ts, run as the README says: a node starts in the
 * script's process, takes a job from code and one over HTTP, and stops, so
 * the script exits by itself with code 0.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runExample } from '../helpers/examples.js';

test('examples/in-process: start a node, submit from code and over HTTP, stop', async () => {
  const run = await runExample('examples/in-process/main.ts', []);
  assert.equal(run.code, 0, run.stderr);
  const [started, submitted, overHttp, ...rest] = run.stdout.trim().split('\n');
  assert.deepEqual(rest, []);
  const url = /^node n-[0-9a-f]+ serves HTTP at (http:\/\/127\.0\.0\.1:\d+)$/.exec(started ?? '')?.[1];
  assert.ok(url !== undefined, started);
  assert.equal(submitted, `count=2 activeNode=${url}`);
  assert.deepEqual(JSON.parse(overHttp!.replace(/^over HTTP: /, '')), { result: { count: 5 }, activeNode: url });
});
