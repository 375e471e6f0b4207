/**
 * The cache ceiling: fastify keeping every customer's decoded list in an
 * in-process Map. A write appends one record in place; nothing is persisted
 * or encoded. What a cache-hit job could cost at best on this machine.
 *
 *   PUT  /customers/:key           body: the msgpack list (seeding)
 *   POST /customers/:key/records   body: a record (JSON) -> { count }
 *   GET  /customers/:key/summary   -> { count, total }
 */
import { appendRecord, listCodec, summarize, toRecord, type BenchRecord, type RecordBody } from '../workload.js';
import { benchApp, serve } from './app-server.js';

type Params = { key: string };
const lists = new Map<string, BenchRecord[]>();
const app = benchApp();

app.put<{ Params: Params; Body: Buffer }>('/customers/:key', async (request) => {
  lists.set(request.params.key, listCodec.unpack(request.body) as BenchRecord[]);
  return { ok: true };
});

app.post<{ Params: Params; Body: RecordBody }>('/customers/:key/records', async (request, reply) => {
  const list = lists.get(request.params.key);
  if (list === undefined) return reply.code(404).send({ error: 'no such customer' });
  return { count: appendRecord(list, toRecord(request.body)) };
});

app.get<{ Params: Params }>('/customers/:key/summary', async (request, reply) => {
  const list = lists.get(request.params.key);
  if (list === undefined) return reply.code(404).send({ error: 'no such customer' });
  return summarize(list);
});

await serve(app);
