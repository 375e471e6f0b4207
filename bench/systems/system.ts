/**
 * What the HTTP benchmark needs of each system: start it (as real
 * processes), seed the customers' lists, tell where each customer's
 * requests go, and read a list's length back to check the run.
 */
import type { LoadTarget } from '../run-load.js';
import type { Scope } from '../scope.js';

export interface RequestShape {
  method: 'GET' | 'POST';
  /** `{key}` stands for the customer key. */
  path: string;
  recordBody: boolean;
}

/** One row of the results: a way of sending the load to a running system. */
export interface Variant {
  id: string;
  label: string;
  targets(keys: string[], connections: number): Promise<LoadTarget[]>;
  /** Also measure p99 at half this variant's maximum write throughput. */
  halfRate?: boolean;
}

/** Jobs run by the system's nodes so far, and how many of them a node forwarded to another. */
export interface JobTally {
  ran: number;
  forwarded: number;
}

export interface Deployment {
  variants: Variant[];
  write: RequestShape;
  read: RequestShape;
  /** Stores every customer's seed list (encoded with listCodec). */
  seed(keys: string[], records: number): Promise<void>;
  /** The number of records in a customer's list; null when the system keeps no lists. */
  listLength(key: string): Promise<number | null>;
  /** Grex only: its nodes' job counters, to show how much of a run was forwarded. */
  jobTally?(): Promise<JobTally>;
}

export interface StartOptions {
  /** Extra arguments for every `grex start`. */
  grexArgs: string[];
  /** Flags for node running `grex start` (--cpu-prof when profiling). */
  grexNodeArgs: string[];
  /** Another build's CLI script (dist/src/cli/main.js) to run instead of this one's. */
  cli?: string;
}

export interface SystemSetup {
  id: string;
  start(scope: Scope, options: StartOptions): Promise<Deployment>;
}

/** Every target gets `connections` split evenly (at least one each). */
export function evenTargets(urls: string[], keys: string[], connections: number): LoadTarget[] {
  return urls.map((url, i) => ({
    url,
    keys,
    connections: Math.max(1, Math.floor(connections / urls.length) + (i < connections % urls.length ? 1 : 0)),
  }));
}
