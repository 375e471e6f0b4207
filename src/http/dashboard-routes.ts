/**
 *   GET /                  -> the dashboard: one HTML page that polls /cluster/overview
 *   GET /cluster/overview  -> members, their states and counters, and per flock its active node and in-sync herders
 *   GET /metrics           -> this node's metrics in the Prometheus text format
 *
 * All three are monitoring routes: admission never refuses them, so an
 * overloaded node can still be looked at.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { sendValue } from './replies.js';
import type { NodeApi } from './node-api.js';

// The page is a static file next to this module: src/http/dashboard/, copied to dist/ by the build.
const PAGE = new URL('./dashboard/index.html', import.meta.url);

let page: Promise<Buffer> | null = null;

function loadPage(): Promise<Buffer> {
  page ??= (async () => {
    try {
      return await readFile(PAGE);
    } catch {
      page = null;
      throw new Error(`the dashboard page (${PAGE.pathname}) is missing from this installation`);
    }
  })();
  return page;
}

export async function dashboardRoutes(app: FastifyInstance, options: { node: NodeApi }): Promise<void> {
  const { node } = options;
  const monitoring = { config: { monitoring: true } };
  // Cluster views: with protectReads, they need the admin token (admin-guard.ts).
  const view = { config: { monitoring: true, admin: 'read' as const } };

  app.get('/', monitoring, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(await loadPage()),
  );

  app.get('/cluster/overview', view, async (request, reply) => sendValue(request, reply, await node.clusterOverview()));

  app.get('/metrics', view, async (_request, reply) => {
    const { contentType, text } = await node.metrics();
    return reply.type(contentType).header('cache-control', 'no-store').send(text);
  });
}
