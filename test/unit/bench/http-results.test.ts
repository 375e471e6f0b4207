// The HTTP benchmark's pure parts: targets judged from the rows of one run, the tables and the chart.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { httpChart } from '../../../bench/chart.js';
import { checkTargets, forwardedNote, resultTables, targetsTable, type HttpRow } from '../../../bench/http-results.js';
import type { LoadResult } from '../../../bench/run-load.js';
import { parseMetrics, sumSeries } from '../../helpers/metrics.js';

function load(reqPerSec: number, p99Ms = 3, non2xx = 0): LoadResult {
  return { requests: reqPerSec * 10, reqPerSec, p50Ms: 1, p99Ms, maxMs: p99Ms * 2, non2xx, errors: 0, timeouts: 0, autocannonP99Ms: Math.ceil(p99Ms) };
}

function row(id: string, write: number, extra: Partial<HttpRow> = {}): HttpRow {
  return { id, label: id, write: load(write), read: load(write * 2), ...extra };
}

describe('checkTargets', () => {
  test('every target met', () => {
    const rows = [
      row('cache', 20_000),
      row('redis', 2_000),
      row('grex-1', 12_000, { halfRate: { rate: 6000, result: load(6000, 4.2) } }),
      row('grex-3-direct', 6_000),
      row('grex-3-forward', 4_000),
    ];
    const checks = checkTargets(rows);
    assert.deepEqual(
      checks.map((c) => [c.measured, c.met]),
      [
        ['6.00×', true],
        ['0.60×', true],
        ['3.00×', true],
        ['0.67×', true],
        ['4.2 ms at 6000 req/s', true],
      ],
    );
  });

  test('misses are reported as missed, with the measured ratio', () => {
    const rows = [
      row('cache', 20_000),
      row('redis', 2_000),
      row('grex-1', 9_000, { halfRate: { rate: 4500, result: load(4500, 7.5) } }),
      row('grex-3-direct', 4_000),
      row('grex-3-forward', 2_000),
    ];
    assert.deepEqual(
      checkTargets(rows).map((c) => c.met),
      [false, false, false, false, false],
    );
    assert.match(targetsTable(checkTargets(rows)), /\| Grex 1 node \(durable\) ≥ 5× the Redis app \| 4\.50× \| \*\*missed\*\* \|/);
  });

  test('a half-rate run with errors misses its target even when fast', () => {
    const rows = [row('grex-1', 1000, { halfRate: { rate: 500, result: load(500, 1, 3) } })];
    assert.equal(checkTargets(rows)[4]!.met, false);
  });

  test('targets whose rows were not run are "not run", not met', () => {
    const checks = checkTargets([row('redis', 2_000), row('grex-1', 12_000)]);
    assert.deepEqual(
      checks.map((c) => c.met),
      [true, null, null, null, null],
    );
    assert.match(targetsTable(checks), /\| not run \|$/m);
  });
});

describe('tables and chart', () => {
  test('rows show req/s, latency, errors and ratios to the Redis app and the cache ceiling', () => {
    const tables = resultTables([row('cache', 20_000), row('redis', 2_000), row('grex-1', 10_000, { write: load(10_000, 3, 2) })]);
    assert.match(tables.write, /\| grex-1 \| 10000 \| 1\.00 \| 3\.00 \| 2 \| 5\.00× \| 0\.50× \|/);
    assert.match(tables.read, /\| grex-1 \| 20000 \| 1\.00 \| 3\.00 \| 0 \| 5\.00× \| 0\.50× \|/);
  });

  test('the chart is one SVG with a bar per system and workload in each panel, labels escaped', () => {
    const svg = httpChart(
      [
        { label: 'a & b', write: { reqPerSec: 1000, p99Ms: 2 }, read: { reqPerSec: 2000, p99Ms: 1 } },
        { label: 'c', write: { reqPerSec: 500, p99Ms: NaN }, read: { reqPerSec: 0, p99Ms: 4 } },
      ],
      'caption <x>',
    );
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.ok(svg.includes('a &amp; b') && svg.includes('caption &lt;x&gt;'));
    // 2 systems × 2 workloads × 2 panels, plus the background and 2 legend swatches.
    assert.equal(svg.match(/<rect /g)!.length, 8 + 3);
    assert.equal(svg.match(/<svg/g)!.length, 1);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
  });
});

describe('forwarded jobs', () => {
  test('each Grex row says how many of its write jobs a node forwarded, and what share', () => {
    const note = forwardedNote([
      row('redis', 2_000),
      row('grex-3-direct', 4_000, { label: '3 direct', forwarded: { ran: 40_000, forwarded: 12 } }),
      row('grex-3-forward', 3_000, { label: '3 random', forwarded: { ran: 30_000, forwarded: 20_001 } }),
    ]);
    assert.match(note, /3 direct: 12 of 40,000 \(0\.0%\); 3 random: 20,001 of 30,000 \(66\.7%\)\./);
    assert.ok(!note.includes('redis'));
  });

  test('no note without counts; no share without jobs', () => {
    assert.equal(forwardedNote([row('redis', 2_000)]), '');
    assert.match(forwardedNote([row('g', 0, { forwarded: { ran: 0, forwarded: 0 } })]), /g: 0 of 0 \(–\)/);
  });

  test('a metric is summed over the series whose labels match', () => {
    const samples = parseMetrics(
      [
        '# HELP grex_forwards_total x',
        'grex_forwards_total{what="job",outcome="ok"} 5',
        'grex_forwards_total{what="job",outcome="timeout"} 2',
        'grex_forwards_total{what="item.get",outcome="ok"} 100',
        'grex_forwards_total_other{what="job"} 1000',
        'grex_forwards_total{what="item.get",xwhat="job"} 10000',
        'grex_jobs_total{job="a",outcome="ok"} 3',
        'grex_jobs_total{job="b",outcome="ok"} 4',
      ].join('\n'),
    );
    assert.equal(sumSeries(samples, 'grex_forwards_total', { what: 'job' }), 7);
    assert.equal(sumSeries(samples, 'grex_jobs_total'), 7);
    assert.equal(sumSeries(samples, 'grex_missing'), 0);
  });
});
