/**
 * The usual alternative: a stateless fastify app over Redis. Each write GETs
 * the customer's encoded list, decodes it, appends one record, re-encodes the
 * whole list and SETs it back; a read GETs and decodes. (Concurrent writes
 * to one customer can lose records, as in most apps written this way; the
 * benchmark measures its speed, not its correctness.)
 *
 *   REDIS_PORT=6379 node redis-app.js
 *
 * Routes as in cache-app.ts.
 */
import { Redis } from 'ioredis';
import { appendRecord, listCodec, summarize, toRecord, type BenchRecord, type RecordBody } from '../workload.js';
import { benchApp, serve } from './app-server.js';

type Params = { key: string };
const redis = new Redis({ host: '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379), lazyConnect: false });
const app = benchApp();
const redisKey = (key: string) => `customer:${key}`;

async function load(key: string): Promise<BenchRecord[] | undefined> {
  const bytes = await redis.getBuffer(redisKey(key));
  return bytes === null ? undefined : (listCodec.unpack(bytes) as BenchRecord[]);
}

app.put<{ Params: Params; Body: Buffer }>('/customers/:key', async (request) => {
  await redis.set(redisKey(request.params.key), request.body);
  return { ok: true };
});

app.post<{ Params: Params; Body: RecordBody }>('/customers/:key/records', async (request, reply) => {
  const list = await load(request.params.key);
  if (list === undefined) return reply.code(404).send({ error: 'no such customer' });
  const count = appendRecord(list, toRecord(request.body));
  // pack() returns a view of msgpackr's scratch buffer, which a queued socket write would still reference: copy.
  await redis.set(redisKey(request.params.key), Buffer.from(listCodec.pack(list)));
  return { count };
});

app.get<{ Params: Params }>('/customers/:key/summary', async (request, reply) => {
  const list = await load(request.params.key);
  if (list === undefined) return reply.code(404).send({ error: 'no such customer' });
  return summarize(list);
});

await serve(app, () => redis.quit());
