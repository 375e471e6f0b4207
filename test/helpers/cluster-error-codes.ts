import type { ErrorCode } from '../../src/errors.js';

/**
 * Codes only a cluster can cause. test/http/errors-http.test.ts leaves them to
 * test/cluster/cluster-errors.test.ts (over HTTP) and
 * test/cluster/memory-cluster.test.ts and test/cluster/failover.test.ts (the others).
 */
export const CLUSTER_ERROR_CODES: readonly ErrorCode[] = [
  'GREX_ERR_NOT_ACTIVE',
  'GREX_ERR_NOT_HERDER',
  'GREX_ERR_FLOCK_UNASSIGNED',
  'GREX_ERR_QUORUM',
  'GREX_ERR_PEER_UNAVAILABLE',
  'GREX_ERR_BLEET_TIMEOUT',
  'GREX_ERR_STALE_TERM',
  'GREX_ERR_FLOCK_UNAVAILABLE',
];
