/**
 * How a node goes away. stopNode closes the parts in order: new work is
 * refused, the jobs running and queued finish and answer, the HTTP listener
 * closes, the led flocks are handed to their next herders, then the
 * leadership, the peers, the job threads and the store close. drainNode
 * (leave) first hands every flock this node herds over to other herders,
 * then stops.
 */
import type { NodeCore, NodeState } from './node-core.js';

/** How long a stopping node lets answered clients close their connections before it closes them. */
const HTTP_CLOSE_GRACE_MS = 1000;

/** Stops the node's parts in order (GrexNode.stop, once). */
export async function stopNode(core: NodeCore, state: NodeState): Promise<void> {
  const { cluster, leadership, config, logger } = core;
  state.ready = false;
  logger.info({ nodeId: core.nodeId, queued: core.scheduler.queued }, 'Grex node stopping');
  const closing = state.http?.close();
  await core.scheduler.stop();
  // Every job has answered; a client that keeps its connection busy would hold close() forever.
  const force = setTimeout(() => state.http?.server.closeAllConnections(), HTTP_CLOSE_GRACE_MS);
  await closing;
  clearTimeout(force);
  // Hand the led flocks to their next herders now, rather than have them wait to see this node dead.
  if (leadership.ledFlocks().length > 0 && cluster.members().length > 1) {
    cluster.setStopping();
    const bound = Math.min(config.bleetTimeoutMs, 2000);
    await cluster.flushMembers(bound);
    await withDeadline(leadership.handOverAll(), bound);
  }
  await leadership.stop();
  await cluster.stop();
  await core.pool.close();
  await core.store.close();
  core.metrics.close();
  logger.info({ nodeId: core.nodeId }, 'Grex node stopped');
}

/**
 * Drains the node (GrexNode.leave, once): it stops herding (herd false), so
 * its flocks get other target herders; each flock is dropped once they all
 * herd it. When it herds nothing (or is stopping anyway), `stop` is called.
 */
export async function drainNode(core: NodeCore, state: NodeState, stop: () => Promise<void>): Promise<void> {
  const { cluster, leadership, config, logger } = core;
  logger.info({ nodeId: core.nodeId, herding: leadership.herdingCount }, 'leaving the cluster: handing over every flock');
  cluster.declare({ herd: false, farm: null });
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (state.stopping !== null || (leadership.herdingCount === 0 && leadership.ledFlocks().length === 0)) {
        clearInterval(timer);
        resolve();
      }
    }, config.heartbeatMs);
  });
  // Let the last announcement (herding nothing) reach the others before going.
  leadership.announceNow();
  await cluster.flushMembers(config.bleetTimeoutMs);
  logger.info({ nodeId: core.nodeId }, 'left the cluster: every flock handed over');
  await stop();
}

/** Waits for `work`, but no longer than `ms` (a timer that keeps the process alive meanwhile). */
async function withDeadline(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
