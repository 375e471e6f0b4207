/**
 * Job threads by default: one per core but one, which the main thread needs for
 * HTTP, the store and bleets (at least one thread). On two cores one job thread
 * wrote more per second than two, with less CPU per job and ~35 MB less memory
 * (bench/append-quick.ts with --node-args "--workers 1" and "--workers 2").
 */
import { availableParallelism } from 'node:os';

export function defaultJobThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}
