/**
 * The systems Grex is compared with: the HTTP ceiling (bare fastify), the
 * cache ceiling (decoded lists in an in-process Map) and the Redis app
 * (stateless fastify over a redis-server of its own).
 */
import { startAppProcess } from './app-process.js';
import { startRedisServer } from './redis-server.js';
import { fetchJson, putLists } from './seed.js';
import { evenTargets, type Deployment, type RequestShape, type SystemSetup } from './system.js';

const APP_WRITE: RequestShape = { method: 'POST', path: '/customers/{key}/records', recordBody: true };
const APP_READ: RequestShape = { method: 'GET', path: '/customers/{key}/summary', recordBody: false };

function appDeployment(id: string, label: string, url: string): Deployment {
  return {
    variants: [{ id, label, targets: async (keys, connections) => evenTargets([url], keys, connections) }],
    write: APP_WRITE,
    read: APP_READ,
    seed: (keys, records) => putLists((key) => `${url}/customers/${encodeURIComponent(key)}`, keys, records),
    listLength: async (key) => ((await fetchJson(`${url}/customers/${encodeURIComponent(key)}/summary`)) as { count: number }).count,
  };
}

export const helloSetup: SystemSetup = {
  id: 'hello',
  async start(scope) {
    const app = await startAppProcess(scope, 'hello-app.js');
    return {
      variants: [{ id: 'hello', label: 'HTTP ceiling (fastify hello)', targets: async (keys, connections) => evenTargets([app.url], keys, connections) }],
      // Same request line and body as the others; the answer is a constant.
      write: { method: 'POST', path: '/hello?customer={key}', recordBody: true },
      read: { method: 'GET', path: '/hello?customer={key}', recordBody: false },
      seed: async () => {},
      listLength: async () => null,
    };
  },
};

export const cacheSetup: SystemSetup = {
  id: 'cache',
  async start(scope) {
    const app = await startAppProcess(scope, 'cache-app.js');
    return appDeployment('cache', 'Cache ceiling (fastify + Map)', app.url);
  },
};

export const redisSetup: SystemSetup = {
  id: 'redis',
  async start(scope) {
    const redis = await startRedisServer(scope);
    const app = await startAppProcess(scope, 'redis-app.js', { REDIS_PORT: String(redis.port) });
    return appDeployment('redis', 'Redis app (fastify + Redis)', app.url);
  },
};
