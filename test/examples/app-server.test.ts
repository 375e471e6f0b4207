/**
 * examples/app-server/server.ts, started three times as real processes (ports
 * chosen at run time, one of them from the environment) to form a cluster:
 * its own customer routes work through any of the three, run on the
 * customer's active node, agree with each other and with the Grex routes
 * mounted under /grex, reject bad input, and the processes stop cleanly on
 * SIGTERM.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startExample, type ExampleProcess } from '../helpers/examples.js';
import { requestJson, type JsonAnswer } from '../helpers/http.js';
import { waitForSettled } from '../helpers/process-cluster.js';
import { suiteContext } from '../helpers/suite.js';
import { tempDir } from '../helpers/temp-dir.js';

const SERVER = 'examples/app-server/server.ts';

interface App {
  process: ExampleProcess;
  /** The app's own origin. */
  base: string;
  /** Where its Grex routes are (the node's URL). */
  url: string;
  bleetAddress: string;
}

async function startApp(t: ReturnType<typeof suiteContext>, name: string, seed: App | null, viaEnv = false): Promise<App> {
  const data = await tempDir(t, `grex-example-${name}-`);
  const settings = { port: '0', bleet: '127.0.0.1:0', data, ...(seed === null ? {} : { peers: seed.bleetAddress }) };
  const args = viaEnv ? [] : Object.entries(settings).flatMap(([flag, value]) => [`--${flag}`, value]);
  const env = viaEnv ? Object.fromEntries(Object.entries(settings).map(([k, v]) => [k.toUpperCase(), v])) : {};
  const process = await startExample(t, SERVER, args, { env, readyMsg: 'app ready' });
  const { url, grexUrl, bleetUrl } = process.ready as { url: string; grexUrl: string; bleetUrl: string };
  return { process, base: url, url: grexUrl, bleetAddress: bleetUrl.replace(/^ws:\/\//, '') };
}

function post(url: string, body: unknown): Promise<JsonAnswer> {
  return requestJson(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

describe('examples/app-server: three app servers embedding Grex form a cluster', () => {
  const t = suiteContext();
  let apps: App[] = [];

  test('three processes start (the third configured from the environment) and settle into one cluster', async () => {
    const first = await startApp(t, 'a', null);
    apps = [first, ...(await Promise.all([startApp(t, 'b', first), startApp(t, 'c', first, true)]))];
    for (const app of apps) {
      assert.match(app.base, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(app.url, `${app.base}/grex`);
    }
    await waitForSettled(apps);
  });

  test("a customer's contacts, orders and favourites, added through different apps, are one bucket served by its active node", async () => {
    const [a, b, c] = apps as [App, App, App];
    const route = (await requestJson(`${a.url}/route/ann`)).body as { activeNode: string; herders: string[] };
    assert.ok(apps.some((app) => app.url === route.activeNode), `active node ${route.activeNode} is one of the apps`);
    assert.deepEqual([...route.herders].sort(), apps.map((app) => app.url).sort());

    const contact = await post(`${a.base}/customers/ann/contacts`, { name: 'Ann', email: 'ann@example.com' });
    assert.equal(contact.status, 201);
    assert.equal(contact.body.count, 1);
    assert.equal(contact.body.contact.name, 'Ann');
    assert.equal(contact.body.ranOn, route.activeNode);

    const order = await post(`${b.base}/customers/ann/orders`, { description: 'tea', amountCents: 350 });
    assert.equal(order.status, 201);
    assert.equal(order.body.totalCents, 350);
    await post(`${c.base}/customers/ann/orders`, { description: 'cake', amountCents: 500 });

    assert.equal((await post(`${c.base}/customers/ann/favourites`, { url: 'https://example.com/a', title: 'A' })).body.favourite, true);
    assert.equal((await post(`${a.base}/customers/ann/favourites`, { url: 'https://example.com/b', title: 'B' })).body.favourite, true);
    const toggled = await post(`${b.base}/customers/ann/favourites`, { url: 'https://example.com/a', title: 'A' });
    assert.equal(toggled.body.favourite, false);
    assert.deepEqual(toggled.body.favourites, [{ url: 'https://example.com/b', title: 'B' }]);

    const views = await Promise.all(apps.map(async (app) => (await requestJson(`${app.base}/customers/ann`)).body));
    for (const view of views) assert.deepEqual(view, views[0]);
    const view = views[0] as { customer: string; contacts: unknown[]; orders: { description: string }[]; favourites: unknown[]; totalCents: number; ranOn: string };
    assert.equal(view.customer, 'ann');
    assert.equal(view.contacts.length, 1);
    assert.deepEqual(view.orders.map((o) => o.description), ['tea', 'cake']);
    assert.equal(view.favourites.length, 1);
    assert.equal(view.totalCents, 850);
    assert.equal(view.ranOn, route.activeNode);

    // The items are in Grex, under the /grex routes of any app.
    const items = (await requestJson(`${c.url}/buckets/ann/items`)).body as { items: { itemKey: string }[] };
    assert.deepEqual(items.items.map((i) => i.itemKey).sort(), ['contacts', 'favourites', 'orders']);
  });

  test('customers spread over the apps: each runs on its own active node, wherever the request arrives', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const customer = `customer-${i}`;
      const via = apps[i % apps.length]!;
      const added = await post(`${via.base}/customers/${customer}/contacts`, { name: `c${i}`, email: `c${i}@example.com` });
      const { activeNode } = (await requestJson(`${via.url}/route/${customer}`)).body as { activeNode: string };
      assert.equal(added.body.ranOn, activeNode);
      seen.add(activeNode);
    }
    assert.equal(seen.size, apps.length, 'every app is the active node of some customer');
  });

  test('bad input: a body that fails validation gets 400; a job that throws gets its Grex error', async () => {
    const [a] = apps as [App];
    const missing = await post(`${a.base}/customers/ann/contacts`, { name: 'no email' });
    assert.equal(missing.status, 400);
    const failed = await post(`${a.base}/customers/ann/orders`, { description: 'refund', amountCents: -5 });
    assert.equal(failed.status, 422);
    assert.equal(failed.body.error.code, 'GREX_ERR_JOB_FAILED');
    assert.match(failed.body.error.message, /amountCents must be a positive integer/);
  });

  test('SIGTERM stops each app and its node cleanly (exit code 0)', async () => {
    const codes = await Promise.all(apps.map((app) => app.process.stop('SIGTERM')));
    assert.deepEqual(codes, [0, 0, 0]);
    for (const app of apps) assert.match(app.process.output(), /"msg":"Grex node stopped"/);
  });
});
