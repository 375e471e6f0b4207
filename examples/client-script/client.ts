/**
 * A plain script that uses a running Grex cluster through GrexClient: it
 * counts a visit and adds a contact for a few customers, lists what each
 * customer has, and shows which node ran their jobs (the active node of the
 * customer's flock). The client remembers that node, so the next jobs of
 * the same flock go straight there.
 *
 *   npm run cluster                                   # in one terminal
 *   node --import tsx examples/client-script/client.ts http://127.0.0.1:8081 http://127.0.0.1:8082
 *
 * The jobs are the example jobs in jobs/ (the ones `npm start` and
 * `npm run cluster` load).
 */
// #region client
import { GrexClient } from 'grex/client';
import type counter from '../../jobs/counter.ts';
import type customerAdd from '../../jobs/customer-add.ts';
import type customerList from '../../jobs/customer-list.ts';

// Typed submit: these job names take their job's data and give its result (as JSON).
declare module 'grex/client' {
  interface GrexJobs {
    counter: typeof counter;
    'customer-add': typeof customerAdd;
    'customer-list': typeof customerList;
  }
}
// #endregion client

const seeds = process.argv.slice(2);
if (seeds.length === 0) {
  console.error('usage: client.ts <node URL> [more node URLs]');
  process.exit(2);
}

// #region submit
const client = new GrexClient(seeds);
for (const customer of ['johndoe', 'janedoe', 'acme']) {
  const visits = await client.submit(customer, 'counter', { by: 1 });
  await client.submit(customer, 'customer-add', { type: 'contacts', record: { name: `${customer} contact`, email: `${customer}@example.com` } });
  const { result, activeNode } = await client.submit(customer, 'customer-list', { type: 'contacts' });
  console.log(`${customer}: visits=${visits.result.count} contacts=${result.contacts?.length ?? 0} activeNode=${activeNode}`);
  // The next job of this customer goes straight to its active node.
  console.log(`${customer}: next job goes to ${client.targetFor(customer)}`);
}
// #endregion submit
