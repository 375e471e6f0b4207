/**
 *   GET /route/:bucketKey  -> { bucketKey, flock, flocks, activeNode, herders } (the "canary" request)
 *   GET /health            -> 200 while the process serves HTTP
 *   GET /ready             -> 200 once the node takes jobs, 503 before and while stopping
 *   GET /cluster           -> members and their states, the farm map's version and summary, counters
 *   GET /cluster/flocks/:flock -> herders, active node, promised term, and (on the active node) its term and in-sync herders
 *   PUT /debug/faults      -> tests only: cut this node off from peers
 *
 * Admin levels (admin-guard.ts): the cluster views are `read`, the fault switch `write`.
 */
import type { FastifyInstance } from 'fastify';
import { GrexError } from '../errors.js';
import { assertBucketKey } from '../keys.js';
import { sendValue } from './replies.js';
import type { NodeApi } from './node-api.js';

export async function nodeRoutes(app: FastifyInstance, options: { node: NodeApi }): Promise<void> {
  const { node } = options;
  // Never refused under overload (see admission.ts).
  const monitoring = { config: { monitoring: true } };

  app.get<{ Params: { bucketKey: string } }>('/route/:bucketKey', async (request, reply) => {
    assertBucketKey(request.params.bucketKey);
    return sendValue(request, reply, node.route(request.params.bucketKey));
  });

  app.get('/health', monitoring, async (request, reply) =>
    sendValue(request, reply, { status: 'ok', nodeId: node.nodeId, url: node.url, uptimeSeconds: node.uptimeSeconds() }),
  );

  app.get('/cluster', { config: { admin: 'read', monitoring: true } }, async (request, reply) => sendValue(request, reply, node.clusterInfo()));

  app.get<{ Params: { flock: string } }>('/cluster/flocks/:flock', { config: { admin: 'read', monitoring: true } }, async (request, reply) =>
    sendValue(request, reply, await node.describeFlock(/^\d+$/.test(request.params.flock) ? Number(request.params.flock) : -1)),
  );

  app.put<{ Body: unknown }>('/debug/faults', { config: { admin: 'write' } }, async (request, reply) => {
    const body = request.body as { blocked?: unknown } | undefined;
    const blocked = body?.blocked;
    if (!Array.isArray(blocked) || !blocked.every((b) => typeof b === 'string')) {
      throw new GrexError('GREX_ERR_BODY_MALFORMED', 'expected {"blocked": ["node id", ...]}');
    }
    const now = node.setBlockedPeers?.(blocked as string[]) ?? null;
    if (now === null) throw new GrexError('GREX_ERR_ROUTE_NOT_FOUND', 'fault injection is off (start the node with --fault-injection true)');
    return sendValue(request, reply, { blocked: now });
  });

  app.get('/ready', monitoring, async (request, reply) => {
    if (!node.isReady()) throw new GrexError('GREX_ERR_NOT_READY', 'the node is starting or stopping');
    return sendValue(request, reply, { ready: true, nodeId: node.nodeId, url: node.url });
  });
}
