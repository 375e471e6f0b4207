/**
 * A counter and a histogram for the job path: counting is a field update on
 * a series the caller keeps (no label hashing per event, which costs about a
 * microsecond in prom-client), and prom-client renders them when scraped,
 * through the metric shape its registry reads (`name`, `help`, `type`,
 * `get()`).
 */
import type { Registry } from 'prom-client';

type Labels<L extends string> = Record<L, string>;

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

abstract class FastMetric<L extends string, S> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum';
  protected readonly series = new Map<string, { labels: Labels<L>; state: S }>();

  constructor(options: { name: string; help: string; registers: Registry[] }) {
    this.name = options.name;
    this.help = options.help;
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  /** The state of one label set, created at first use; keep it to count without lookups. */
  protected stateOf(labels: Labels<L>, create: () => S): S {
    const key = JSON.stringify(labels);
    let entry = this.series.get(key);
    if (entry === undefined) this.series.set(key, (entry = { labels: { ...labels }, state: create() }));
    return entry.state;
  }

  protected abstract values(): MetricValue[];

  async get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }> {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: this.aggregator };
  }
}

export interface CounterSeries {
  value: number;
}

export class FastCounter<L extends string> extends FastMetric<L, CounterSeries> {
  readonly type = 'counter';

  labels(labels: Labels<L>): CounterSeries {
    return this.stateOf(labels, () => ({ value: 0 }));
  }

  protected values(): MetricValue[] {
    return [...this.series.values()].map(({ labels, state }) => ({ labels, value: state.value }));
  }
}

export class HistogramSeries {
  readonly #bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    let i = 0;
    while (i < this.#bounds.length && value > this.#bounds[i]!) i++;
    this.counts[i]!++;
  }
}

export class FastHistogram<L extends string> extends FastMetric<L, HistogramSeries> {
  readonly type = 'histogram';
  readonly #bounds: readonly number[];

  constructor(options: { name: string; help: string; registers: Registry[]; buckets: readonly number[] }) {
    super(options);
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
  }

  labels(labels: Labels<L>): HistogramSeries {
    return this.stateOf(labels, () => new HistogramSeries(this.#bounds));
  }

  protected values(): MetricValue[] {
    const out: MetricValue[] = [];
    for (const { labels, state } of this.series.values()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += state.counts[i]!;
        out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: bound }, value: cumulative });
      });
      out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: state.count });
      out.push({ metricName: `${this.name}_sum`, labels, value: state.sum });
      out.push({ metricName: `${this.name}_count`, labels, value: state.count });
    }
    return out;
  }
}
