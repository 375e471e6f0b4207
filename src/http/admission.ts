/**
 * Admission of HTTP requests: bounds what a node holds for requests it is
 * serving, so a flood is answered 503 GREX_ERR_OVERLOADED (with Retry-After)
 * at once instead of growing memory.
 *
 * Each request is counted from its arrival until its answer is sent (or the
 * connection closes), and charged the body bytes it declares (a chunked
 * body of unknown length is charged the whole body limit). A request that
 * would pass `maxRequests` or `maxBodyBytes` is refused before its body is
 * read. A small refused body is then read and dropped by Node, so the
 * connection serves the next request; a large one is not read at all: its
 * answer says `Connection: close` and Node closes the connection once the
 * answer is sent (reading every refused body of a flood kept the node busy
 * and left new clients waiting; bench/flood-latency.ts measures it). That also
 * bounds the forwards a node holds for a slow peer and the job data waiting
 * in its queues, since each is an admitted request.
 *
 * Routes marked `config: { monitoring: true }` (health, readiness, metrics,
 * the dashboard) are never refused: an operator must be able to look at an
 * overloaded node.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GrexError } from '../errors.js';
import { OVERLOAD_RETRY_AFTER_SECONDS } from '../scheduler/scheduler.js';

export interface AdmissionLimits {
  /** Requests served at once. */
  maxRequests: number;
  /** Declared body bytes of the requests served at once. */
  maxBodyBytes: number;
  /** Largest body; what a body of unknown length is charged. */
  bodyLimitBytes: number;
}

/** The counts behind admission. Pure. */
export class RequestBudget {
  readonly limits: AdmissionLimits;
  requests = 0;
  bodyBytes = 0;

  constructor(limits: AdmissionLimits) {
    this.limits = limits;
  }

  /** Admits a request with a body of `bytes` (0: none); false when it would pass a limit. */
  tryAdmit(bytes: number): boolean {
    if (this.requests >= this.limits.maxRequests) return false;
    // One body is always let through on an idle node, however large (the body limit is checked apart).
    if (bytes > 0 && this.bodyBytes > 0 && this.bodyBytes + bytes > this.limits.maxBodyBytes) return false;
    this.requests++;
    this.bodyBytes += bytes;
    return true;
  }

  release(bytes: number): void {
    this.requests--;
    this.bodyBytes -= bytes;
  }
}

/** Body bytes a request is charged: its content-length, the body limit if it has a body of unknown length, else 0. */
export function chargedBytes(request: Pick<FastifyRequest, 'headers'>, bodyLimitBytes: number): number {
  const length = request.headers['content-length'];
  if (length !== undefined) {
    const n = Number(length);
    return Number.isSafeInteger(n) && n >= 0 ? Math.min(n, bodyLimitBytes) : bodyLimitBytes;
  }
  return request.headers['transfer-encoding'] !== undefined ? bodyLimitBytes : 0;
}

/**
 * The largest refused body that is read (and dropped) so its connection can
 * serve the next request; a larger one, or one of unknown length, is not
 * read: the 503 says `Connection: close` and the connection is closed once
 * it is sent.
 */
export const MAX_DRAINED_BODY_BYTES = 64 * 1024;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Never refused by admission (health, metrics, the dashboard). */
    monitoring?: boolean;
  }
}

/** Adds admission to every route of `app` (and of plugins it registers later). */
export function addAdmission(app: FastifyInstance, budget: RequestBudget, onRefused: () => void): void {
  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.config?.monitoring === true) return done();
    const bytes = chargedBytes(request, budget.limits.bodyLimitBytes);
    if (!budget.tryAdmit(bytes)) {
      onRefused();
      // Reading a large refused body just to keep the connection is the flood's cost: close it instead.
      if (bytes > MAX_DRAINED_BODY_BYTES) reply.header('connection', 'close');
      const full = budget.requests >= budget.limits.maxRequests;
      return done(
        new GrexError(
          'GREX_ERR_OVERLOADED',
          full ? `node is serving ${budget.limits.maxRequests} requests` : `node holds ${budget.bodyBytes} bytes of request bodies`,
          { scope: 'http', retryAfterSeconds: OVERLOAD_RETRY_AFTER_SECONDS },
        ),
      );
    }
    // 'close' comes once the answer is sent or the connection is gone, whichever is first.
    reply.raw.once('close', () => budget.release(bytes));
    done();
  });
}
