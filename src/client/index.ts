export { GrexClient, type GrexClientOptions, type ClientSubmitResult } from './grex-client.js';
export { GrexError, type ErrorCode } from '../errors.js';
export type { GrexJobs, JobData, JobResult, JobName, Jsonified } from '../job.js';
