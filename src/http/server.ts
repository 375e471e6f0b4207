/**
 * Grex's HTTP interface: `grexRoutes` is a fastify plugin (mount it in an
 * app, under a prefix of its choice), `createHttpServer` a standalone server
 * with only Grex's routes.
 *
 *   const node = await startNode({ http: false, ... });
 *   const app = Fastify({ routerOptions: { maxParamLength: 1024 } });
 *   await app.register(grexRoutes, { node, prefix: '/grex' });
 *   await app.listen({ port: 3000 });   // node.url is now http://127.0.0.1:3000/grex
 */
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { GrexError } from '../errors.js';
import type { Logger } from '../log.js';
import { adminGuard, type AdminGuardOptions } from './admin-guard.js';
import { addAdmission, type RequestBudget } from './admission.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { itemRoutes } from './item-routes.js';
import { jobRoutes } from './job-routes.js';
import { farmRoutes } from './farm-routes.js';
import { nodeRoutes } from './node-routes.js';
import type { NodeApi } from './node-api.js';
import { sendError } from './replies.js';

export interface GrexRoutesOptions {
  node: NodeApi;
  /** Where 500s are logged. Default: the node's logger. */
  logger?: Logger;
  /** Largest request body of Grex's routes, in bytes. Default: the node's bodyLimitMb. */
  bodyLimitBytes?: number;
  /** The admin token and whether reads need it too (admin-guard.ts). */
  admin?: AdminGuardOptions;
  /** Bounds the requests served at once (see admission.ts); none when absent. */
  budget?: RequestBudget;
  /** Told of each request refused by the budget (for metrics). */
  onRefused?: () => void;
}

/**
 * Grex's routes and error format, as a fastify plugin. Mounted under a
 * prefix, unknown paths below it get Grex's GREX_ERR_ROUTE_NOT_FOUND; once
 * the app listens, the node learns the URL of its routes (`http://<app
 * address><prefix>`), which it advertises to clients and peers as its own
 * (unless its `url` option or its own listener says otherwise).
 */
export const grexRoutes: FastifyPluginAsync<GrexRoutesOptions> = async (app, options) => {
  const { node } = options;
  const logger = options.logger ?? node.logger;
  app.setErrorHandler((err, request, reply) => sendError(request, reply, err, logger));
  app.addHook('onRequest', adminGuard(options.admin ?? {}));
  if (options.budget !== undefined) addAdmission(app, options.budget, options.onRefused ?? (() => {}));
  const bodyLimit = options.bodyLimitBytes ?? node.bodyLimitBytes;
  if (bodyLimit !== undefined) {
    app.addHook('onRoute', (route) => {
      route.bodyLimit ??= bodyLimit;
    });
  }
  if (app.prefix !== '') {
    app.setNotFoundHandler((request, reply) => {
      sendError(request, reply, new GrexError('GREX_ERR_ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
    });
  }
  const prefix = app.prefix;
  app.addHook('onListen', async () => {
    const address = app.server.address();
    if (address !== null && typeof address === 'object') node.routesServedAt?.(routesUrl(address, prefix));
  });
  await app.register(jobRoutes, { node });
  await app.register(itemRoutes, { node });
  await app.register(nodeRoutes, { node });
  await app.register(farmRoutes, { node });
  await app.register(dashboardRoutes, { node });
};

/** `http://host:port/prefix` of a listening address; a wildcard address is shown as loopback. */
export function routesUrl(address: AddressInfo, prefix: string): string {
  let host = address.address;
  if (host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '::') host = '[::1]';
  else if (address.family === 'IPv6') host = `[${host}]`;
  return `http://${host}:${address.port}${prefix}`;
}

export interface HttpServerOptions {
  bodyLimitBytes: number;
  logger?: Logger;
  admin?: AdminGuardOptions;
  /** Serve https with this key and certificate. */
  https?: { key: Buffer; cert: Buffer };
  budget?: RequestBudget;
  onRefused?: () => void;
}

/** Longest URL parameter: a 256-byte key percent-encoded is at most 768 characters. */
export const MAX_PARAM_LENGTH = 1024;

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
  const { logger, budget, onRefused, admin } = options;
  app.register(grexRoutes, {
    node,
    bodyLimitBytes: options.bodyLimitBytes,
    ...(logger === undefined ? {} : { logger }),
    ...(admin === undefined ? {} : { admin }),
    ...(budget === undefined ? {} : { budget }),
    ...(onRefused === undefined ? {} : { onRefused }),
  });
  return app as unknown as FastifyInstance;
}
