/**
 * Inside a competitor app's process: listen on 127.0.0.1 (port 0 unless
 * PORT says otherwise), print one JSON ready line with the URL, stop on
 * SIGTERM. The harness (app-process.ts) waits for that line.
 */
import Fastify, { type FastifyInstance } from 'fastify';

/** A fastify app as the apps of the benchmark use it: no request logging, msgpack bodies as Buffers. */
export function benchApp(): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 * 1024 });
  app.addContentTypeParser('application/msgpack', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  return app;
}

export async function serve(app: FastifyInstance, onStop: () => Promise<unknown> = async () => {}): Promise<void> {
  const url = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
  console.log(JSON.stringify({ ready: true, url }));
  process.once('SIGTERM', () => {
    void app
      .close()
      .then(onStop)
      .finally(() => process.exit(0));
  });
}
