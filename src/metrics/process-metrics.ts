/**
 * Metrics of the process (CPU, memory, event-loop lag, GC, handles): the
 * default metrics of prom-client, prefixed `grex_`.
 *
 * They describe the process, not a node, and prom-client's collectors start
 * monitors that are never stopped, so they are registered once per process
 * in a registry of their own that every node's /metrics appends (tests run
 * several nodes in one process).
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

let registry: Registry | null = null;

export function processRegistry(): Registry {
  if (registry === null) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'grex_' });
  }
  return registry;
}
