export { Scheduler, encodeJobValue, OVERLOAD_RETRY_AFTER_SECONDS } from './scheduler.js';
export type { JobRequest, JobOutcome, ItemWrite, SchedulerOptions } from './scheduler.js';
export { FlockClock } from './flock-clock.js';
export { BucketQueue } from './bucket-queue.js';
export { BucketGenerations } from './bucket-generations.js';
