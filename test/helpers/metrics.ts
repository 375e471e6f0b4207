/** Reading the Prometheus text of GET /metrics in tests. */

export type Samples = Map<string, number>;

/** `name{a="1",b="2"} value` lines, keyed by name and labels in sorted order. */
export function parseMetrics(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const labels = [...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k!, v!] as const);
    samples.set(key(match[1]!, Object.fromEntries(labels)), Number(match[3]));
  }
  return samples;
}

function key(name: string, labels: Record<string, string>): string {
  const parts = Object.keys(labels).sort().map((k) => `${k}="${labels[k]}"`);
  return parts.length === 0 ? name : `${name}{${parts.join(',')}}`;
}

/** A sample's value; undefined when there is no such sample. */
export function sample(samples: Samples, name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.get(key(name, labels));
}

/** The sum of a sample over several nodes (absent counts as 0). */
export function total(all: readonly Samples[], name: string, labels: Record<string, string> = {}): number {
  return all.reduce((sum, samples) => sum + (sample(samples, name, labels) ?? 0), 0);
}

/** The sum of every series of a metric whose labels include `labels` (absent counts as 0). */
export function sumSeries(samples: Samples, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const [series, value] of samples) {
    if (series !== name && !series.startsWith(`${name}{`)) continue;
    if (wanted.every((pair) => series.includes(`{${pair}`) || series.includes(`,${pair}`))) sum += value;
  }
  return sum;
}
