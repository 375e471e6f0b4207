// Manual farm plans over real processes: `grex farm` moves chosen flocks
// (copied to their new herders, dropped by the old ones), data survives, and
// a bad plan is refused whole with nothing changed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatFarm, parseFarm } from '../../src/cluster/farm-map.js';
import { flockOf } from '../../src/keys.js';
import { runCounter } from '../fault/harness.js';
import { requestJson } from '../helpers/http.js';
import { runCli } from '../helpers/processes.js';
import { waitForSettled } from '../helpers/process-cluster.js';
import { clusterView, counterOf, herding, holdsOnlyWhatItHerds, startDataNode, waitForFarm } from '../helpers/rebalance.js';

describe('manual farm plans', () => {
  test('a plan moves chosen flocks between nodes; a bad plan is refused and changes nothing', async (t) => {
    const a = await startDataNode(t, 'a', null);
    const [b, c] = await Promise.all([startDataNode(t, 'b', a), startDataNode(t, 'c', a)]);
    await waitForSettled([a, b, c].map((n) => n.proc));
    const buckets = Array.from({ length: 60 }, (_, i) => `plan-${i}`);
    for (const bucket of buckets) assert.ok('count' in (await runCounter(b.proc.url, bucket)));
    const claimed = new Set(buckets.map((bucket) => flockOf(bucket, 1024)));
    await waitForFarm([a, b, c], 'three herders of every claimed flock');

    // a keeps the low half, b the high half, c everything: a loses the high flocks, b the low ones.
    const plan = { a: '0-511', b: '512-1023', c: '0-1023' };
    const applied = await runCli(['farm', `a=${plan.a}`, `b=${plan.b}`, `c=${plan.c}`, '--url', a.proc.url]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.deepEqual(JSON.parse(applied.stdout).farms, plan);
    const views = await waitForFarm([a, b, c], 'the plan carried out');
    assert.ok(views.every((v) => v.mode === 'manual'));
    const expected = (range: string) => formatFarm([...claimed].filter((f) => parseFarm(range, 1024).includes(f)));
    assert.equal(formatFarm([...herding(await clusterView(a))]), expected(plan.a));
    assert.equal(formatFarm([...herding(await clusterView(b))]), expected(plan.b));
    assert.equal(formatFarm([...herding(await clusterView(c))]), expected(plan.c));
    for (const node of [a, b, c]) await holdsOnlyWhatItHerds(node);

    // Every count survived the move, and the replicas agree.
    for (const bucket of buckets) assert.equal(await counterOf(c, bucket), 1, bucket);
    const low = buckets.find((bucket) => flockOf(bucket, 1024) < 512)!;
    assert.equal((await requestJson(`${b.proc.url}/buckets/${low}/items/count?local=true`)).body.error.code, 'GREX_ERR_NOT_HERDER');
    const onA = await fetch(`${a.proc.url}/buckets/${low}/items/count?local=true`);
    const onC = await fetch(`${c.proc.url}/buckets/${low}/items/count?local=true`);
    assert.equal(onA.status, 200);
    assert.equal(onA.headers.get('grex-version'), onC.headers.get('grex-version'));

    // Bad plans: refused whole, nothing changes.
    const before = await clusterView(a);
    for (const bad of [{ a: '0-511' }, { a: '0-1023', stranger: '1' }, { a: '0-1023', b: 'x-y' }, { a: 7 }]) {
      const refused = await requestJson(`${a.proc.url}/cluster/farm`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ farms: bad }),
      });
      assert.equal(refused.status, 400, JSON.stringify(bad));
      assert.equal(refused.body.error.code, 'GREX_ERR_PLAN_INVALID');
    }
    const cli = await runCli(['farm', 'a=0-99', '--url', a.proc.url]);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /GREX_ERR_PLAN_INVALID: the plan leaves 924 flock\(s\) without a herder/);
    const after = await clusterView(a);
    assert.equal(after.mapVersion, before.mapVersion, 'a refused plan changed nothing');
    assert.equal(after.herdingFlocks, before.herdingFlocks);
  });
});
