export { JobPool, JobTimedOutError, ThreadLostError, type JobPoolOptions, type StoreReader } from './job-pool.js';
export { discoverJobs } from './job-catalog.js';
export type { CacheStats, JobReply, JobTask, PayloadEncoding, ItemChange } from './protocol.js';
