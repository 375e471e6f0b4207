// The dashboard (GET /) in a real browser: headless Chromium (Debian's, at
// /usr/bin/chromium; .ci/run installs it) driven by playwright-core, on a
// cluster of three real node processes. It shows the three members alive, one
// cell per flock coloured like its active node, job counts that rise with jobs,
// and after a SIGKILL the dead member and exactly its flocks under-replicated.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { postJob, requestJson } from '../helpers/http.js';
import { startProcessCluster } from '../helpers/process-cluster.js';

// The functions passed to the page run there; the project has no DOM types, so the few
// globals they use are declared loosely for this module only.
type El = { dataset: Record<string, string | undefined> };
declare const document: { querySelectorAll(selector: string): Iterable<El> & ArrayLike<El>; querySelector(selector: string): El | null };
declare function getComputedStyle(element: El): { backgroundColor: string };

const FLOCKS = 16;
const CHROMIUM = '/usr/bin/chromium';
const WAIT = { timeout: 60_000, polling: 100 };

async function launch(t: { after: (fn: () => unknown) => void }): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => browser.close());
  return browser;
}

/** Total of the job counts the page shows. */
function shownJobs(page: Page): Promise<number> {
  return page.evaluate(() => [...document.querySelectorAll('#members tr')].reduce((sum, tr) => sum + Number(tr.dataset.jobs || 0), 0));
}

describe('dashboard', () => {
  test('shows a three-node cluster, its farm map, rising job counts and a killed member', async (t) => {
    const nodes = await startProcessCluster(t, ['node-a', 'node-b', 'node-c'], () => ['--flocks', String(FLOCKS), '--replicas', '2']);
    const [a, , c] = nodes as [typeof nodes[0], typeof nodes[0], typeof nodes[0]];
    const browser = await launch(t);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const response = await page.goto(`${a.url}/`);
    assert.equal(response?.status(), 200);
    assert.match(response?.headers()['content-type'] ?? '', /text\/html/);

    // Three members, all alive.
    await page.waitForFunction(
      () => {
        const rows = [...document.querySelectorAll('#members tr')];
        return rows.length === 3 && rows.every((tr) => tr.dataset.state === 'alive');
      },
      undefined,
      WAIT,
    );
    assert.deepEqual(await page.$$eval('#members tr', (rows) => rows.map((tr) => (tr as unknown as El).dataset.nodeId)), ['node-a', 'node-b', 'node-c']);

    // One cell per flock, coloured like its active node's swatch in the legend.
    const flocks = await Promise.all(
      Array.from({ length: FLOCKS }, async (_, flock) => (await requestJson(`${a.url}/cluster/flocks/${flock}`)).body as { active: string; herders: string[] }),
    );
    const cells = await page.$$eval('#farm .flock', (divs) =>
      divs.map((div) => {
        const cell = div as unknown as El;
        const swatch = document.querySelector(`#legend [data-node-id="${cell.dataset.active}"] .swatch`);
        return {
          flock: Number(cell.dataset.flock),
          active: cell.dataset.active,
          color: getComputedStyle(cell).backgroundColor,
          legend: swatch === null ? null : getComputedStyle(swatch).backgroundColor,
        };
      }),
    );
    assert.equal(cells.length, FLOCKS);
    for (const cell of cells) {
      assert.equal(cell.active, flocks[cell.flock]!.active, `flock ${cell.flock}'s active node`);
      assert.equal(cell.color, cell.legend, `flock ${cell.flock} has its active node's colour`);
    }
    assert.equal(new Set(cells.map((cell) => cell.color)).size, 3, 'every node is active for some flock, each in its own colour');

    // Job counts rise as jobs run.
    const before = await shownJobs(page);
    for (let i = 0; i < 30; i++) assert.equal((await postJob(a.url, `bucket-${i % 5}`, 'counter', { by: 1 })).status, 200);
    await page.waitForFunction((expected) => {
      const rows = [...document.querySelectorAll('#members tr')];
      return rows.reduce((sum, tr) => sum + Number(tr.dataset.jobs || 0), 0) === expected;
    }, before + 30, WAIT);

    // No flock is under-replicated while all are alive and in sync.
    await page.waitForFunction(() => document.querySelectorAll('#farm .flock[data-under="1"]').length === 0, undefined, WAIT);

    // SIGKILL node-c: it turns suspect, then dead, and exactly the flocks it herds are marked.
    const expectedUnder = flocks.flatMap((f, flock) => (f.herders.includes('node-c') ? [flock] : []));
    assert.ok(expectedUnder.length > 0 && expectedUnder.length < FLOCKS);
    await c.stop('SIGKILL');
    await page.waitForFunction(() => ['suspect', 'dead'].includes(document.querySelector('#members tr[data-node-id="node-c"]')?.dataset.state ?? ''), undefined, WAIT);
    await page.waitForFunction(
      (expected) => {
        const state = document.querySelector('#members tr[data-node-id="node-c"]')?.dataset.state;
        const under = [...document.querySelectorAll('#farm .flock[data-under="1"]')].map((cell) => Number(cell.dataset.flock));
        return state === 'dead' && JSON.stringify(under) === JSON.stringify(expected);
      },
      expectedUnder,
      WAIT,
    );
    const activeAfter = await page.$$eval('#farm .flock', (divs) => divs.map((div) => (div as unknown as El).dataset.active));
    assert.ok(!activeAfter.includes('node-c'), 'the dead node is active for no flock');
    assert.deepEqual(errors, [], 'no script errors on the page');
  });
});
