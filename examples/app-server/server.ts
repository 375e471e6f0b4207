/**
 * An app server with Grex inside: its own routes for customers (contacts,
 * orders, favourites) call jobs on the customer's bucket, and the Grex
 * routes are mounted under /grex of the same fastify server. Started three
 * times it is a three-node cluster: each customer's jobs run on one app
 * server (the active node of its flock), where its lists stay decoded in
 * memory, and are stored on three.
 *
 *   npm run build
 *   node --import tsx examples/app-server/server.ts --port 3001 --bleet 127.0.0.1:9001 --data ./app-data/1
 *   node --import tsx examples/app-server/server.ts --port 3002 --bleet 127.0.0.1:9002 --data ./app-data/2 --peers 127.0.0.1:9001
 *   node --import tsx examples/app-server/server.ts --port 3003 --bleet 127.0.0.1:9003 --data ./app-data/3 --peers 127.0.0.1:9001
 *
 * Every flag can also come from the environment (PORT, HOST, BLEET, PEERS,
 * DATA); port 0 picks a free port, and the chosen addresses are logged in
 * the "app ready" line.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { GrexError, grexRoutes, MAX_PARAM_LENGTH, startNode } from 'grex';
import './grex-jobs.ts';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '3000' },
    host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
    bleet: { type: 'string', default: process.env.BLEET ?? '127.0.0.1:0' },
    peers: { type: 'string', default: process.env.PEERS ?? '' },
    data: { type: 'string', default: process.env.DATA ?? './app-data' },
  },
});

// #region start-node
// A full Grex node in this process, without a listener of its own: its
// routes are mounted in the app below.
const node = await startNode({
  http: false,
  jobs: fileURLToPath(new URL('./jobs', import.meta.url)),
  data: args.data,
  bleet: args.bleet,
  peers: args.peers === '' ? [] : args.peers.split(','),
});
// #endregion start-node

// #region plugin
const app = Fastify({ routerOptions: { maxParamLength: MAX_PARAM_LENGTH } });
// GET /grex/cluster, POST /grex/buckets/:bucketKey/jobs/:jobName, ... on the app's own port.
await app.register(grexRoutes, { node, prefix: '/grex' });
// The node stops after the app has answered its last request.
app.addHook('onClose', () => node.stop());
// #endregion plugin

// #region errors
// Grex errors (bad data, a job that throws, a node that is stopping) keep their status.
app.setErrorHandler((err, _request, reply) => {
  if (err instanceof GrexError) return reply.code(err.status).send({ error: err.toWire() });
  return reply.send(err);
});
// #endregion errors

interface CustomerParams {
  id: string;
}

// #region add-contact
app.post<{ Params: CustomerParams; Body: { name: string; email: string } }>(
  '/customers/:id/contacts',
  { schema: { body: { type: 'object', required: ['name', 'email'], properties: { name: { type: 'string' }, email: { type: 'string' } } } } },
  async (request, reply) => {
    // Runs on this customer's active node: here, or one hop away.
    const { result, activeNode } = await node.submit(request.params.id, 'contact-add', request.body);
    return reply.code(201).send({ ...result, ranOn: activeNode });
  },
);
// #endregion add-contact

app.post<{ Params: CustomerParams; Body: { description: string; amountCents: number } }>(
  '/customers/:id/orders',
  {
    schema: {
      body: { type: 'object', required: ['description', 'amountCents'], properties: { description: { type: 'string' }, amountCents: { type: 'integer' } } },
    },
  },
  async (request, reply) => {
    const { result, activeNode } = await node.submit(request.params.id, 'order-add', request.body);
    return reply.code(201).send({ ...result, ranOn: activeNode });
  },
);

app.post<{ Params: CustomerParams; Body: { url: string; title: string } }>(
  '/customers/:id/favourites',
  { schema: { body: { type: 'object', required: ['url', 'title'], properties: { url: { type: 'string' }, title: { type: 'string' } } } } },
  async (request) => {
    const { result, activeNode } = await node.submit(request.params.id, 'favourite-toggle', request.body);
    return { ...result, ranOn: activeNode };
  },
);

app.get<{ Params: CustomerParams }>('/customers/:id', async (request) => {
  const { result, activeNode } = await node.submit(request.params.id, 'customer-get');
  const totalCents = result.orders.reduce((sum, order) => sum + order.amountCents, 0);
  return { ...result, totalCents, ranOn: activeNode };
});

// #region listen
await app.listen({ host: args.host, port: Number(args.port) });
// node.url is now this app's address with the prefix, e.g. http://127.0.0.1:3001/grex.
node.logger.info({ url: app.listeningOrigin, grexUrl: node.url, bleetUrl: node.cluster.self().bleetUrl }, `app ready at ${app.listeningOrigin}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    node.logger.info({ signal }, 'app stopping');
    void app.close();
  });
}
// #endregion listen
