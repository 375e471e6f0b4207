/**
 * Rebalancing, for operators:
 *   POST /cluster/leave                    -> 202; this node hands over every flock, then stops
 *   POST /cluster/members/:nodeId/remove   -> removes a dead member for good; its flocks get new herders
 *   PUT  /cluster/farm                     -> a manual farm plan {"node-a": "0-511", ...}; refused whole if invalid
 * All three change the cluster: with an admin token configured, they need it (admin-guard.ts).
 */
import type { FastifyInstance } from 'fastify';
import { sendValue } from './replies.js';
import type { NodeApi } from './node-api.js';

export async function farmRoutes(app: FastifyInstance, options: { node: NodeApi }): Promise<void> {
  const { node } = options;

  app.post('/cluster/leave', { config: { admin: 'write' } }, async (request, reply) => {
    // The drain goes on after the answer; GET /cluster shows it (leaving, flocksHerding).
    node.leave().catch(() => {});
    reply.code(202);
    return sendValue(request, reply, { leaving: true, nodeId: node.nodeId });
  });

  app.post<{ Params: { nodeId: string } }>('/cluster/members/:nodeId/remove', { config: { admin: 'write' } }, async (request, reply) =>
    sendValue(request, reply, node.removeMember(request.params.nodeId)),
  );

  app.put<{ Body: unknown }>('/cluster/farm', { config: { admin: 'write' } }, async (request, reply) => {
    const body = request.body as { farms?: unknown } | undefined;
    return sendValue(request, reply, await node.setFarmPlan(body?.farms));
  });
}
