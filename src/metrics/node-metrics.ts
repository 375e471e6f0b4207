/**
 * The metrics of one node, in a prom-client registry of its own (several
 * nodes may live in one process), served by GET /metrics.
 *
 * Events on the hot path (a job done, a forward, a replication round trip)
 * are counted as they happen, on series kept per label set (fast-metrics.ts).
 * Everything that is a state (queue lengths, cache, flocks, store, members,
 * connections) is read from the node only when scraped, through `sources`.
 *
 * Label values are bounded: job names are the loaded jobs (anything else is
 * `_unknown`), outcomes are `ok` or an error code of the catalogue.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { GrexError } from '../errors.js';
import type { CacheTotals } from './cache-totals.js';
import { EventLoopLag } from './event-loop-lag.js';
import { FastCounter, FastHistogram, type CounterSeries, type HistogramSeries } from './fast-metrics.js';
import { processRegistry } from './process-metrics.js';

export interface StoreUsageView {
  /** Item records held (deleted items count until their tombstones are collected). */
  items: number;
  /** Bytes of those records as stored. */
  bytes: number;
  /** False while the count of what was on disk at start is still running. */
  counted: boolean;
  /** Committed bytes in the write-ahead log not yet in item files. */
  pendingBytes: number;
}

/** What the metrics read from the node when scraped. */
export interface MetricSources {
  queue(): { jobs: number; buckets: number };
  cache(): Promise<CacheTotals>;
  /** Flocks this node herds; is the first live herder of (its view); leads at a term. */
  flocks(): { herded: number; holding: number; active: number; led: number };
  store(): StoreUsageView;
  /** Bleet connections, by direction and state. */
  connections(): { direction: 'in' | 'out'; state: 'greeting' | 'ready'; count: number }[];
  /** Members, by state in this node's view. */
  members(): Record<'alive' | 'suspect' | 'dead', number>;
  cluster(): { replicationFailures: number; quorumFailures: number };
  http(): { requests: number; bodyBytes: number };
}

export const UNKNOWN_JOB = '_unknown';
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** A log write takes ~0.1-0.5 ms on an SSD that honours O_DSYNC cheaply, tens of ms on a slow disk. */
const LOG_WRITE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** `ok`, or the error's code without its prefix (`GREX_ERR_JOB_FAILED` -> `job_failed`). */
export function outcomeOf(err: unknown): string {
  if (err === undefined) return 'ok';
  const code = (err as GrexError | null)?.code;
  return typeof code === 'string' && code.startsWith('GREX_ERR_') ? code.slice('GREX_ERR_'.length).toLowerCase() : 'internal';
}

export class NodeMetrics {
  readonly registry = new Registry();
  readonly #jobNames: ReadonlySet<string>;
  readonly #jobs: FastCounter<'job' | 'outcome'>;
  readonly #jobSeconds: FastHistogram<'job'>;
  readonly #forwards: FastCounter<'what' | 'outcome'>;
  readonly #replication: FastHistogram<'outcome'>;
  readonly #overloaded: FastCounter<'scope'>;
  readonly #logWrites: HistogramSeries;
  readonly #logCommits: CounterSeries;
  /** Series by label values, so counting an event does no label work. */
  readonly #counts = new Map<string, CounterSeries>();
  readonly #timers = new Map<string, HistogramSeries>();
  readonly #lag = new EventLoopLag();
  /** Plain totals of jobs run here, for the dashboard's stats. */
  jobsOk = 0;
  jobsFailed = 0;

  constructor(jobNames: ReadonlySet<string>, sources: MetricSources) {
    this.#jobNames = jobNames;
    processRegistry(); // starts the process's monitors with its first node
    const registers = [this.registry];
    this.#jobs = new FastCounter({ name: 'grex_jobs_total', help: 'Jobs run on this node (its active flocks), by job and outcome (ok or error code).', registers });
    this.#jobSeconds = new FastHistogram({
      name: 'grex_job_duration_seconds',
      help: 'Time from a job reaching its active node to its answer: queue, run, commit and write quorum.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#forwards = new FastCounter({
      name: 'grex_forwards_total',
      help: 'Requests forwarded to the active node of their bucket, by kind (job, item.get, item.list, item.write) and outcome.',
      registers,
    });
    this.#replication = new FastHistogram({
      name: 'grex_replication_duration_seconds',
      help: 'Round trip of one replicated write to one herder, by outcome.',
      buckets: LATENCY_BUCKETS.slice(0, -1),
      registers,
    });
    this.#logWrites = new FastHistogram({
      name: 'grex_log_write_seconds',
      help: 'Time to make one batch of commits durable in the write-ahead log (its write and sync): the disk\'s share of every write\'s latency.',
      buckets: LOG_WRITE_BUCKETS,
      registers,
    }).labels({});
    this.#logCommits = new FastCounter({
      name: 'grex_log_commits_total',
      help: 'Commits made durable in the write-ahead log; divided by grex_log_write_seconds_count, the commits per batch (group commit).',
      registers,
    }).labels({});
    this.#overloaded = new FastCounter({
      name: 'grex_overloaded_total',
      help: 'Requests refused with GREX_ERR_OVERLOADED, by the limit hit (http, node, bucket).',
      registers,
    });

    const gauge = (name: string, help: string, read: (g: Gauge) => void | Promise<void>, labelNames: string[] = []) =>
      new Gauge({ name, help, labelNames, registers, collect() { return read(this); } });
    // A count the node keeps itself, read when scraped.
    const counter = (name: string, help: string, read: () => number | Promise<number>) =>
      new Counter({
        name,
        help,
        registers,
        async collect() {
          const value = await read();
          this.reset();
          this.inc(value);
        },
      });

    gauge('grex_jobs_queued', 'Jobs running or waiting on this node (limit: maxQueuedJobs).', (g) => g.set(sources.queue().jobs));
    gauge('grex_buckets_queued', 'Buckets with a job running or waiting on this node.', (g) => g.set(sources.queue().buckets));

    // The threads are polled once per scrape: every cache collector shares the poll in flight.
    const cache = async (pick: (c: CacheTotals) => number) => pick(await sources.cache());
    counter('grex_cache_hits_total', 'Object cache lookups that found the decoded item.', () => cache((c) => c.hits));
    counter('grex_cache_misses_total', 'Object cache lookups that read and decoded the item.', () => cache((c) => c.misses));
    counter('grex_cache_evictions_total', 'Decoded items dropped from the object cache to stay within its budget.', () => cache((c) => c.evictions));
    gauge('grex_cache_bytes', 'Estimated bytes of decoded items in the object caches of all job threads.', async (g) => g.set(await cache((c) => c.bytes)));
    gauge('grex_cache_max_bytes', 'Budget of the object caches (cacheMb).', async (g) => g.set(await cache((c) => c.maxBytes)));
    gauge('grex_cache_items', 'Decoded items in the object caches.', async (g) => g.set(await cache((c) => c.items)));

    counter('grex_quorum_failures_total', 'Writes that could not reach their write quorum.', () => sources.cluster().quorumFailures);
    counter('grex_replication_failures_total', 'Replicated writes a herder did not take (it is synced again later).', () => sources.cluster().replicationFailures);

    gauge('grex_flocks_herded', 'Flocks the farm map gives this node to herd.', (g) => g.set(sources.flocks().herded));
    gauge('grex_flocks_holding', 'Flocks this node holds a full, counted copy of (claimed flocks it herds; learners excluded).', (g) => g.set(sources.flocks().holding));
    gauge('grex_flocks_active', 'Flocks whose first live herder is this node, in its view (it is their active node).', (g) => g.set(sources.flocks().active));
    gauge('grex_flocks_led', 'Flocks this node leads at a term (claimed from a majority of their herders).', (g) => g.set(sources.flocks().led));

    gauge('grex_store_items', 'Item records this node holds (deleted items count until their tombstones are collected).', (g) => g.set(sources.store().items));
    gauge('grex_store_bytes', 'Bytes of the item records this node holds.', (g) => g.set(sources.store().bytes));
    gauge('grex_store_counted', '1 once the records on disk at start have been counted (until then the two above are partial).', (g) => g.set(sources.store().counted ? 1 : 0));
    gauge('grex_store_pending_bytes', 'Committed bytes in the write-ahead log not yet written to item files.', (g) => g.set(sources.store().pendingBytes));

    gauge(
      'grex_bleet_connections',
      'Bleet connections to and from peers, by direction and state.',
      (g) => {
        g.reset();
        for (const c of sources.connections()) g.set({ direction: c.direction, state: c.state }, c.count);
      },
      ['direction', 'state'],
    );
    gauge(
      'grex_members',
      'Cluster members by state, in this node\'s view.',
      (g) => {
        for (const [state, count] of Object.entries(sources.members())) g.set({ state }, count);
      },
      ['state'],
    );
    gauge(
      'grex_event_loop_lag_seconds',
      'How late this node\'s event loop ran a timer due every 10 ms, since the previous scrape: worst (max), 99th and 50th percentile.',
      (g) => {
        const lag = this.#lag.take();
        g.set({ stat: 'max' }, lag.max);
        g.set({ stat: 'p99' }, lag.p99);
        g.set({ stat: 'p50' }, lag.p50);
      },
      ['stat'],
    );
    gauge('grex_http_requests_in_flight', 'HTTP requests being served (limit: maxHttpRequests).', (g) => g.set(sources.http().requests));
    gauge('grex_http_body_bytes_in_flight', 'Request body bytes held by requests being served (limit: maxHttpBodyMb).', (g) => g.set(sources.http().bodyBytes));
  }

  /** A job that reached this node as its active node is done (err undefined: it succeeded). */
  jobDone(jobName: string, seconds: number, err?: unknown): void {
    const job = this.#jobNames.has(jobName) ? jobName : UNKNOWN_JOB;
    const outcome = outcomeOf(err);
    if (err === undefined) this.jobsOk++;
    else this.jobsFailed++;
    this.#count(this.#jobs, `j\0${job}\0${outcome}`, { job, outcome }).value++;
    this.#timer(this.#jobSeconds, `j\0${job}`, { job }).observe(seconds);
    if (outcome === 'overloaded') this.overloaded(scopeOf(err));
  }

  forwarded(what: string, err?: unknown): void {
    const outcome = outcomeOf(err);
    this.#count(this.#forwards, `f\0${what}\0${outcome}`, { what, outcome }).value++;
  }

  replicated(seconds: number, err?: unknown): void {
    const outcome = err === undefined ? 'ok' : 'error';
    this.#timer(this.#replication, `r\0${outcome}`, { outcome }).observe(seconds);
  }

  /** A batch of `commits` made durable in the write-ahead log in `seconds`. */
  logBatch(seconds: number, commits: number): void {
    this.#logWrites.observe(seconds);
    this.#logCommits.value += commits;
  }

  overloaded(scope: string): void {
    this.#count(this.#overloaded, `o\0${scope}`, { scope }).value++;
  }

  #count<L extends string>(counter: FastCounter<L>, key: string, labels: Record<L, string>): CounterSeries {
    let series = this.#counts.get(key);
    if (series === undefined) this.#counts.set(key, (series = counter.labels(labels)));
    return series;
  }

  #timer<L extends string>(histogram: FastHistogram<L>, key: string, labels: Record<L, string>): HistogramSeries {
    let series = this.#timers.get(key);
    if (series === undefined) this.#timers.set(key, (series = histogram.labels(labels)));
    return series;
  }

  /** Stops the node's event-loop sampling. */
  close(): void {
    this.#lag.stop();
  }

  /** The Prometheus text of this node's metrics and the process's. */
  async render(): Promise<string> {
    const [node, process] = await Promise.all([this.registry.metrics(), processRegistry().metrics()]);
    return `${node}\n${process}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function scopeOf(err: unknown): string {
  const scope = (err as GrexError | null)?.data?.scope;
  return scope === 'bucket' || scope === 'node' || scope === 'http' ? scope : 'node';
}
