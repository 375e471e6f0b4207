// A FlockLeadership of one node over an in-memory store, with a stand-in for its
// ClusterNode: for unit tests of how a node answers bleets (replicate, sync)
// without sockets or other nodes.
import type { ClusterNode } from '../../src/cluster/cluster-node.js';
import { FlockGates } from '../../src/cluster/flock-gate.js';
import { FlockLeadership, type LeadershipOptions } from '../../src/cluster/flock-leadership.js';
import { createLogger } from '../../src/log.js';
import { FlockClock } from '../../src/scheduler/flock-clock.js';
import { ItemStore } from '../../src/store/item-store.js';
import { MemoryBackend } from '../../src/store/memory-backend.js';

export interface LoneLeadership {
  leadership: FlockLeadership;
  store: ItemStore;
  clock: FlockClock;
}

/**
 * `cluster` holds the ClusterNode members the test needs (route, isLive, ...);
 * `before` runs on the clock before the leadership loads what it herds.
 */
export async function loneLeadership(options: {
  selfId: string;
  cluster: Partial<Record<keyof ClusterNode, unknown>>;
  invalidateBucket?: (bucketKey: string) => void;
  before?: (clock: FlockClock) => Promise<void>;
  /** The store's backend (default: a fresh MemoryBackend), say one that holds back writes. */
  backend?: MemoryBackend;
}): Promise<LoneLeadership> {
  const store = new ItemStore(options.backend ?? new MemoryBackend());
  const clock = new FlockClock(store);
  await options.before?.(clock);
  const leadership = new FlockLeadership(
    leadershipOptions({
      selfId: options.selfId,
      cluster: { isFresh: () => false, toLearn: () => [], setHerding: () => {}, ...options.cluster } as unknown as ClusterNode,
      clock,
      store,
      ...(options.invalidateBucket === undefined ? {} : { invalidateBucket: options.invalidateBucket }),
    }),
  );
  await leadership.loadHerding();
  return { leadership, store, clock };
}

/** Leadership options for a unit test: these parts given, quiet defaults for the rest. */
export function leadershipOptions(given: Pick<LeadershipOptions, 'selfId' | 'cluster' | 'clock' | 'store'> & Partial<LeadershipOptions>): LeadershipOptions {
  return {
    gates: new FlockGates(),
    writeQuorum: 'majority',
    invalidateFlock: () => {},
    invalidateBucket: () => {},
    inBucket: (_bucketKey, work) => work(),
    antiEntropyMs: 60_000,
    antiEntropyMbps: 8,
    transferMbps: 64,
    bleetTimeoutMs: 1000,
    logger: createLogger({ level: 'silent' }),
    ...given,
  };
}
