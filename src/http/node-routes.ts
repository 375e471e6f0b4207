/**
 *   GET /route/:bucketKey  -> { bucketKey, flock, flocks, activeNode, herders } (the "canary" request)
 *   GET /health            -> 200 while the process serves HTTP
 *   GET /ready             -> 200 once the node takes jobs, 503 before and while stopping
 *   GET /cluster           -> members and their states, the farm map's version and summary, counters
 */
import type { FastifyInstance } from 'fastify';
import { GrexError } from '../errors.js';
import { assertBucketKey } from '../keys.js';
import { sendValue } from './replies.js';
import type { NodeApi } from './node-api.js';

export async function nodeRoutes(app: FastifyInstance, options: { node: NodeApi }): Promise<void> {
  const { node } = options;

  app.get<{ Params: { bucketKey: string } }>('/route/:bucketKey', async (request, reply) => {
    assertBucketKey(request.params.bucketKey);
    return sendValue(request, reply, node.route(request.params.bucketKey));
  });

  app.get('/health', async (request, reply) =>
    sendValue(request, reply, { status: 'ok', nodeId: node.nodeId, url: node.url, uptimeSeconds: node.uptimeSeconds() }),
  );

  app.get('/cluster', async (request, reply) => sendValue(request, reply, node.clusterInfo()));

  app.get('/ready', async (request, reply) => {
    if (!node.isReady()) throw new GrexError('GREX_ERR_NOT_READY', 'the node is starting or stopping');
    return sendValue(request, reply, { ready: true, nodeId: node.nodeId, url: node.url });
  });
}
