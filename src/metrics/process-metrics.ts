/**
 * Metrics of the process (CPU, memory, GC, handles): the default metrics of
 * prom-client, prefixed `grex_`, without its event-loop lag, which each node
 * reports itself (event-loop-lag.ts says why).
 *
 * They describe the process, not a node, and prom-client's collectors start
 * monitors that are never stopped, so they are registered once per process
 * in a registry of their own that every node's /metrics appends (tests run
 * several nodes in one process).
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

const PREFIX = 'grex_';
/** prom-client's event-loop lag series (its lib/metrics/eventLoopLag.js), dropped for grex_event_loop_lag_seconds. */
const PROM_CLIENT_LAG = ['', '_min', '_max', '_mean', '_stddev', '_p50', '_p90', '_p99'].map((s) => `${PREFIX}nodejs_eventloop_lag${s}_seconds`);

let registry: Registry | null = null;

export function processRegistry(): Registry {
  if (registry === null) {
    registry = new Registry();
    // Its lag monitor cannot be left out; sampled once a second, it costs nothing while unread.
    collectDefaultMetrics({ register: registry, prefix: PREFIX, eventLoopMonitoringPrecision: 1000 });
    for (const name of PROM_CLIENT_LAG) registry.removeSingleMetric(name);
  }
  return registry;
}
