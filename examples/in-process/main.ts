/**
 * A Grex node inside a plain Node.js process: start it, submit jobs to it
 * from code, stop it. The jobs are the example jobs in jobs/.
 *
 *   npm run build
 *   node --import tsx examples/in-process/main.ts
 */
// #region start
import { startNode } from 'grex';
import type counter from '../../jobs/counter.ts';

// Optional: name your jobs for typed submit calls (data checked, result typed).
// #region registry
declare module 'grex' {
  interface GrexJobs {
    counter: typeof counter;
  }
}
// #endregion registry

// #region start-node
// store: 'memory' keeps nothing after exit; leave it out to keep items in ./grex-data.
const node = await startNode({ jobs: './jobs', store: 'memory', http: '127.0.0.1:0', logLevel: 'warn' });
// #endregion start-node
console.log(`node ${node.nodeId} serves HTTP at ${node.url}`);
// #endregion start

// #region submit
const { result, activeNode } = await node.submit('johndoe', 'counter', { by: 2 });
console.log(`count=${result.count} activeNode=${activeNode}`);
// #endregion submit

// The same job over HTTP: any node accepts it.
const response = await fetch(`${node.url}/buckets/johndoe/jobs/counter`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"by": 3}' });
console.log(`over HTTP: ${await response.text()}`);

// #region stop
// Refuses new jobs, lets running ones finish, closes everything.
await node.stop();
// #endregion stop
