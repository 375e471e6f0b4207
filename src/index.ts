/**
 * Grex: a sharded, replicated job-execution cluster for Node.js app servers.
 * This is the library entry; `grex/client` is the HTTP client and `grex/job`
 * what job modules import.
 */
export { startNode, GrexNode, type StartNodeOptions, type SubmitResult } from './grex-node.js';
export { grexRoutes, createHttpServer, MAX_PARAM_LENGTH, type GrexRoutesOptions } from './http/server.js';
export { adminGuard, type AdminGuardOptions, type AdminLevel } from './http/admin-guard.js';
export type { NodeApi, RouteInfo } from './http/node-api.js';
export { GrexError, ERRORS, isErrorCode, type ErrorCode, type ErrorSpec, type WireError } from './errors.js';
export { defineJob, type AppendOptions, type Job, type JobContext, type GrexJobs, type JobData, type JobResult, type JobName, type Jsonified } from './job.js';
export { flockOf, fnv1a32, keyProblem, KEY_MAX_BYTES, DEFAULT_FLOCKS } from './keys.js';
export { loadConfig, resolveConfig, OPTIONS, type GrexConfig, type GrexConfigInput } from './config/index.js';
export { FsBackend, MemoryBackend, ItemStore, formatVersion, parseVersion, compareVersions, type Backend, type Version } from './store/index.js';
export type { CacheStats } from './workers/index.js';
