/**
 * Grex's HTTP interface: `grexRoutes` is a fastify plugin (mount it in an
 * app, under a prefix of its choice), `createHttpServer` a standalone server
 * with only Grex's routes.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { GrexError } from '../errors.js';
import type { Logger } from '../log.js';
import { addAdmission, type RequestBudget } from './admission.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { itemRoutes } from './item-routes.js';
import { jobRoutes } from './job-routes.js';
import { nodeRoutes } from './node-routes.js';
import type { NodeApi } from './node-api.js';
import { sendError } from './replies.js';

export interface GrexRoutesOptions {
  node: NodeApi;
  logger?: Logger;
  /** Bounds the requests served at once (see admission.ts); none when absent. */
  budget?: RequestBudget;
  /** Told of each request refused by the budget (for metrics). */
  onRefused?: () => void;
}

/** Grex's routes and error format, as a fastify plugin. */
export const grexRoutes: FastifyPluginAsync<GrexRoutesOptions> = async (app, options) => {
  app.setErrorHandler((err, request, reply) => sendError(request, reply, err, options.logger));
  if (options.budget !== undefined) addAdmission(app, options.budget, options.onRefused ?? (() => {}));
  await app.register(jobRoutes, { node: options.node });
  await app.register(itemRoutes, { node: options.node });
  await app.register(nodeRoutes, { node: options.node });
  await app.register(dashboardRoutes, { node: options.node });
};

export interface HttpServerOptions {
  bodyLimitBytes: number;
  logger?: Logger;
  budget?: RequestBudget;
  onRefused?: () => void;
}

/** Longest URL parameter: a 256-byte key percent-encoded is at most 768 characters. */
const MAX_PARAM_LENGTH = 1024;

export function createHttpServer(node: NodeApi, options: HttpServerOptions): FastifyInstance {
  const app: FastifyInstance = Fastify({
    bodyLimit: options.bodyLimitBytes,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // While stopping, requests that still arrive get Grex's own GREX_ERR_SHUTTING_DOWN.
    return503OnClosing: false,
    // Per-request log lines cost more than a job on the hot path; errors are logged in sendError.
    logController: new LogController({ disableRequestLogging: true }),
    ...(options.logger === undefined ? {} : { loggerInstance: options.logger as FastifyBaseLogger }),
    frameworkErrors: (err, request, reply) => {
      sendError(request, reply, err, options.logger);
    },
  });
  app.setNotFoundHandler((request, reply) => {
    sendError(request, reply, new GrexError('GREX_ERR_ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
  });
  const { logger, budget, onRefused } = options;
  app.register(grexRoutes, { node, ...(logger === undefined ? {} : { logger }), ...(budget === undefined ? {} : { budget }), ...(onRefused === undefined ? {} : { onRefused }) });
  return app;
}
