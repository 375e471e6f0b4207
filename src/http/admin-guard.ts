/**
 * The admin token check, for any route that opts in:
 *
 *   app.put('/cluster/farm', { config: { admin: 'write' } }, handler)   token required when one is configured
 *   app.get('/cluster', { config: { admin: 'read' } }, handler)         token required when protectReads is on too
 *
 * The check runs in an onRequest hook of grexRoutes, so it covers every
 * route registered inside that plugin (and plugins it registers), before
 * the body is even parsed. A missing or wrong token answers 401
 * GREX_ERR_UNAUTHORIZED with `WWW-Authenticate: Bearer`. Tokens are compared
 * as SHA-256 digests with timingSafeEqual: the time taken tells nothing about
 * the token, not even its length.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { GrexError } from '../errors.js';

export type AdminLevel = 'read' | 'write';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `write`: needs the admin token when one is configured; `read`: also with protectReads. */
    admin?: AdminLevel;
  }
}

export interface AdminGuardOptions {
  /** The admin token; undefined: admin routes are open (the node warns at start if it listens beyond loopback). */
  token?: string | undefined;
  /** Also require the token on `read` routes. */
  protectReads?: boolean;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** True when `presented` equals `expected`, in time independent of both. */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/** The token of an `Authorization: Bearer <token>` header, if there is one. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/** Whether a route of this level needs the token under these options. */
export function needsToken(level: AdminLevel | undefined, options: AdminGuardOptions): boolean {
  if (options.token === undefined || level === undefined) return false;
  return level === 'write' || options.protectReads === true;
}

export function adminGuard(options: AdminGuardOptions): onRequestHookHandler {
  const expected = options.token;
  return async function adminGuardOnRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (!needsToken(request.routeOptions.config.admin, options)) return;
    const presented = bearerToken(request.headers.authorization);
    if (presented !== undefined && tokenMatches(presented, expected!)) return;
    reply.header('www-authenticate', 'Bearer realm="grex"');
    throw new GrexError(
      'GREX_ERR_UNAUTHORIZED',
      presented === undefined ? `${request.method} ${request.routeOptions.url} needs the admin token (Authorization: Bearer <token>)` : 'wrong admin token',
    );
  };
}
