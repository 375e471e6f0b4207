// Counter clients for tests that change a cluster under load: one sequential
// client per bucket, each job sent to the next of `targets` (round robin, so
// tests can move the load between nodes), every outcome recorded by a Checker.
import { runCounter } from '../fault/harness.js';
import { Checker } from './checker.js';

export interface CounterLoad {
  readonly checker: Checker;
  /** The node URLs jobs go to; change it to move the load. */
  targets: string[];
  /** Jobs acknowledged so far, over every bucket. */
  acknowledged(): number;
  /** Stops the clients once their jobs in flight are answered. */
  stop(): Promise<void>;
}

export function startCounterLoad(buckets: readonly string[], targets: string[]): CounterLoad {
  const checker = new Checker();
  let running = true;
  let round = 0;
  const load: CounterLoad = {
    checker,
    targets,
    acknowledged: () => [...checker.buckets.values()].reduce((sum, h) => sum + h.acknowledged, 0),
    stop: async () => {
      running = false;
      await clients;
    },
  };
  const clients = Promise.all(
    buckets.map(async (bucket) => {
      while (running) {
        const url = load.targets[round++ % load.targets.length]!;
        const outcome = await runCounter(url, bucket);
        if ('count' in outcome) checker.acknowledged(bucket, outcome.count);
        else checker.failed(bucket, outcome.sent ? outcome.code : 'GREX_ERR_NOT_READY');
      }
    }),
  );
  return load;
}
