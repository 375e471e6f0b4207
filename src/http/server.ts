/**
 * Grex's HTTP interface: `grexRoutes` is a fastify plugin (mount it in an
 * app, under a prefix of its choice), `createHttpServer` a standalone server
 * with only Grex's routes.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { GrexError } from '../errors.js';
import type { Logger } from '../log.js';
import { adminGuard, type AdminGuardOptions } from './admin-guard.js';
import { itemRoutes } from './item-routes.js';
import { jobRoutes } from './job-routes.js';
import { nodeRoutes } from './node-routes.js';
import type { NodeApi } from './node-api.js';
import { sendError } from './replies.js';

export interface GrexRoutesOptions {
  node: NodeApi;
  logger?: Logger;
  /** The admin token and whether reads need it too (admin-guard.ts). */
  admin?: AdminGuardOptions;
}

/** Grex's routes and error format, as a fastify plugin. */
export const grexRoutes: FastifyPluginAsync<GrexRoutesOptions> = async (app, options) => {
  app.setErrorHandler((err, request, reply) => sendError(request, reply, err, options.logger));
  app.addHook('onRequest', adminGuard(options.admin ?? {}));
  await app.register(jobRoutes, { node: options.node });
  await app.register(itemRoutes, { node: options.node });
  await app.register(nodeRoutes, { node: options.node });
};

export interface HttpServerOptions {
  bodyLimitBytes: number;
  logger?: Logger;
  admin?: AdminGuardOptions;
  /** Serve https with this key and certificate. */
  https?: { key: Buffer; cert: Buffer };
}

/** Longest URL parameter: a 256-byte key percent-encoded is at most 768 characters. */
const MAX_PARAM_LENGTH = 1024;

export function createHttpServer(node: NodeApi, options: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    ...(options.https === undefined ? {} : { https: options.https }),
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
  app.register(grexRoutes, {
    node,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.admin === undefined ? {} : { admin: options.admin }),
  });
  return app as unknown as FastifyInstance;
}
