// The grex command as users run it: `grex start` in a folder with the defaults it
// implies, jobs over HTTP, a graceful stop, a restart that finds the data again,
// `grex submit` and `grex status`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { postJob, requestJson } from '../helpers/http.js';
import { cliPath, exampleJobs } from '../helpers/paths.js';
import { runCli, startNodeProcess } from '../helpers/processes.js';
import { waitForSettled } from '../helpers/process-cluster.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

describe('grex start', () => {
  test('starts with ./jobs and ./grex-data, stops on SIGTERM with exit 0, and keeps the data across a restart', async (t) => {
    const cwd = await tempDir(t);
    await cp(exampleJobs, join(cwd, 'jobs'), { recursive: true });
    const first = await startNodeProcess(t, ['--http', '127.0.0.1:0'], { cwd });
    assert.match(first.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(first.url, 'http://127.0.0.1:0');
    for (let i = 1; i <= 5; i++) assert.deepEqual((await postJob(first.url, 'johndoe', 'counter')).body.result, { count: i });
    await postJob(first.url, 'johndoe', 'customer-add', { type: 'orders', record: { description: 'tea' } });
    const nodeId = (await requestJson(`${first.url}/health`)).body.nodeId;
    assert.equal(await first.stop('SIGTERM'), 0);
    assert.ok((await readdir(join(cwd, 'grex-data'))).includes('flocks'));

    const second = await startNodeProcess(t, ['--http', '127.0.0.1:0'], { cwd });
    assert.deepEqual((await postJob(second.url, 'johndoe', 'counter')).body.result, { count: 6 });
    const list = await postJob(second.url, 'johndoe', 'customer-list', { type: 'orders' });
    assert.equal(list.body.result.orders[0].description, 'tea');
    assert.equal((await requestJson(`${second.url}/health`)).body.nodeId, nodeId, 'the node id is kept in the data folder');
    assert.equal(await second.stop('SIGINT'), 0);
  });

  test('options from flags, a config file and GREX_* variables', async (t) => {
    const cwd = await tempDir(t);
    const data = join(cwd, 'elsewhere');
    const node = await startNodeProcess(t, ['--http', '127.0.0.1:0', '--data', data, '--jobs', exampleJobs, '--workers', '1'], {
      cwd,
      env: { GREX_CACHE_MB: '16', GREX_NODE_ID: 'node-a' },
    });
    assert.equal((await requestJson(`${node.url}/health`)).body.nodeId, 'node-a');
    await postJob(node.url, 'x', 'counter');
    assert.ok((await readdir(data)).includes('flocks'));
    assert.equal(await node.stop(), 0);
  });

  test('a second node on the same data folder is refused while the first runs', async (t) => {
    const cwd = await tempDir(t);
    const first = await startNodeProcess(t, ['--http', '127.0.0.1:0', '--jobs', exampleJobs], { cwd });
    const second = await runCli(['start', '--http', '127.0.0.1:0', '--jobs', exampleJobs], { cwd });
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /GREX_ERR_DATA_LOCKED/);
    assert.equal(await first.stop(), 0);
  });

  test('a data folder left by a killed node is taken over', async (t) => {
    const cwd = await tempDir(t);
    const first = await startNodeProcess(t, ['--http', '127.0.0.1:0', '--jobs', exampleJobs], { cwd });
    await postJob(first.url, 'k', 'counter', { by: 3 });
    assert.equal(await first.stop('SIGKILL'), 'SIGKILL');
    const second = await startNodeProcess(t, ['--http', '127.0.0.1:0', '--jobs', exampleJobs], { cwd });
    assert.deepEqual((await postJob(second.url, 'k', 'counter')).body.result, { count: 4 });
    assert.equal(await second.stop(), 0);
  });
});

describe('grex submit and grex status', () => {
  test('submit prints the result and the active node; status prints health and readiness', async (t) => {
    const cwd = await tempDir(t);
    const node = await startNodeProcess(t, ['--http', '127.0.0.1:0', '--jobs', exampleJobs], { cwd });
    const submitted = await runCli(['submit', 'johndoe', 'counter', '{"by": 4}', '--url', node.url]);
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.deepEqual(JSON.parse(submitted.stdout), { result: { count: 4 }, activeNode: node.url });
    const failed = await runCli(['submit', 'johndoe', 'nope', '--url', node.url]);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /GREX_ERR_JOB_NOT_FOUND/);
    const badJson = await runCli(['submit', 'johndoe', 'counter', '{by:', '--url', node.url]);
    assert.equal(badJson.code, 1);
    assert.match(badJson.stderr, /GREX_ERR_BODY_MALFORMED/);
    const status = await runCli(['status', '--url', node.url]);
    assert.equal(status.code, 0, status.stderr);
    const shown = JSON.parse(status.stdout);
    assert.equal(shown.ready, true);
    assert.equal(shown.cluster.members.length, 1);
    assert.equal(shown.cluster.members[0].flocksHerded, 1024);
    assert.equal(await node.stop(), 0);
    const down = await runCli(['status', '--url', node.url]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /GREX_ERR_NODE_UNREACHABLE/);
  });

  test('unknown commands and flags are refused with a non-zero exit', async () => {
    const unknown = await runCli(['frobnicate']);
    assert.equal(unknown.code, 2);
    const badFlag = await runCli(['start', '--no-such-flag']);
    assert.equal(badFlag.code, 1);
    assert.match(badFlag.stderr, /no-such-flag/);
  });
});

describe('grex cluster', () => {
  test('starts three nodes that form one cluster, and stops them all on SIGTERM', async (t) => {
    const cwd = await tempDir(t);
    const child = spawn(
      process.execPath,
      [cliPath, 'cluster', '--nodes', '3', '--http', '127.0.0.1:0', '--bleet', '127.0.0.1:0', '--data', join(cwd, 'data'), '--jobs', exampleJobs, '--workers', '1'],
      { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.after(() => void child.kill('SIGKILL'));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    // Its output, should it stop (a node that cannot start) or never print the line.
    const stoppedEarly = once(child, 'close').then(([code]) => {
      throw new Error(`grex cluster exited with ${String(code)} before its nodes started; its output:\n${out}`);
    });
    const started = waitFor(() => /Grex cluster of 3 nodes: (.*)/.exec(out)?.[1], { what: 'the cluster to start', timeoutMs: 60_000 }).catch((err: Error) => {
      throw new Error(`${err.message}; its output:\n${out}`);
    });
    const line = await Promise.race([started, stoppedEarly]);
    const urls = line.trim().split(' ');
    assert.equal(urls.length, 3);
    // Settled: no node still copying a flock (a learner promoted later may become a flock's active node).
    await waitForSettled(urls.map((url) => ({ url })));
    const answers = [];
    for (const url of urls) answers.push(await postJob(url, 'johndoe', 'counter'));
    assert.deepEqual(answers.map((a) => a.body.result.count), [1, 2, 3]);
    assert.equal(new Set(answers.map((a) => a.body.activeNode)).size, 1);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
    assert.deepEqual((await readdir(join(cwd, 'data'))).sort(), ['node-1', 'node-2', 'node-3']);
  });
});
