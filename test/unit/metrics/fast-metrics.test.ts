// The job path's counter and histogram (src/metrics/fast-metrics.ts), rendered by a
// prom-client registry: values per label set, cumulative buckets (a value equal
// to a bound is in that bound's bucket), +Inf, sum and count.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { FastCounter, FastHistogram } from '../../../src/metrics/fast-metrics.js';
import { parseMetrics, sample } from '../../helpers/metrics.js';

describe('fast metrics', () => {
  test('a counter per label set', async () => {
    const registry = new Registry();
    const counter = new FastCounter<'job' | 'outcome'>({ name: 't_jobs_total', help: 'jobs', registers: [registry] });
    const ok = counter.labels({ job: 'a', outcome: 'ok' });
    ok.value += 3;
    counter.labels({ job: 'a', outcome: 'ok' }).value++;
    counter.labels({ job: 'b', outcome: 'failed' }).value++;
    const text = await registry.metrics();
    assert.match(text, /# TYPE t_jobs_total counter/);
    const samples = parseMetrics(text);
    assert.equal(sample(samples, 't_jobs_total', { job: 'a', outcome: 'ok' }), 4);
    assert.equal(sample(samples, 't_jobs_total', { job: 'b', outcome: 'failed' }), 1);
  });

  test('a histogram with cumulative buckets', async () => {
    const registry = new Registry();
    const histogram = new FastHistogram<'job'>({ name: 't_seconds', help: 'time', buckets: [1, 0.1, 0.5], registers: [registry] });
    const series = histogram.labels({ job: 'a' });
    for (const value of [0.05, 0.1, 0.3, 0.9, 2, 7]) series.observe(value);
    const text = await registry.metrics();
    assert.match(text, /# TYPE t_seconds histogram/);
    const samples = parseMetrics(text);
    const bucket = (le: string) => sample(samples, 't_seconds_bucket', { job: 'a', le });
    assert.deepEqual([bucket('0.1'), bucket('0.5'), bucket('1'), bucket('+Inf')], [2, 3, 4, 6]);
    assert.equal(sample(samples, 't_seconds_count', { job: 'a' }), 6);
    assert.ok(Math.abs(sample(samples, 't_seconds_sum', { job: 'a' })! - 10.35) < 1e-9);
  });
});
