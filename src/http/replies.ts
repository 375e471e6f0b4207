/**
 * Encodings of HTTP answers, and the one error format:
 * `{ "error": { "code": "GREX_…", "message": "…", "data"?: {…} } }` with the
 * code's status, and Retry-After on retryable 503s. Errors from fastify
 * itself (body too large, bad content type, malformed URL) are mapped to
 * Grex codes here so clients only ever see one format.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { wireCodec } from '../codec.js';
import { asGrexError, GrexError } from '../errors.js';
import type { Logger } from '../log.js';

export const MSGPACK = 'application/msgpack';
export const JSON_TYPE = 'application/json; charset=utf-8';

export function isMsgpack(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.toLowerCase().startsWith(MSGPACK);
}

/** Whether the answer to a request should be msgpack: asked for in Accept, or the request was msgpack. */
export function wantsMsgpack(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  if (accept !== undefined && accept.includes(MSGPACK)) return true;
  if (accept !== undefined && accept.includes('application/json')) return false;
  return isMsgpack(request.headers['content-type']);
}

/** Sends a plain value as JSON or msgpack, per the request. */
export function sendValue(request: FastifyRequest, reply: FastifyReply, value: unknown): FastifyReply {
  if (wantsMsgpack(request)) return reply.type(MSGPACK).send(wireCodec.pack(value));
  return reply.type(JSON_TYPE).send(JSON.stringify(value));
}

/** A fastify or other error as a GrexError with the right code. */
export function toGrexError(err: unknown): GrexError {
  if (err instanceof GrexError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  const message = e?.message ?? String(err);
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GrexError('GREX_ERR_BODY_TOO_LARGE', 'request body is larger than the bodyLimitMb option allows');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GrexError('GREX_ERR_MEDIA_TYPE_UNSUPPORTED', `unsupported content type; send ${'application/json'} or ${MSGPACK}`);
    case 'FST_ERR_BAD_URL':
      return new GrexError('GREX_ERR_URL_INVALID', message);
  }
  if (e?.statusCode === 400 || e?.code?.startsWith('FST_ERR_CTP_')) return new GrexError('GREX_ERR_BODY_MALFORMED', message);
  if (e?.statusCode === 404) return new GrexError('GREX_ERR_ROUTE_NOT_FOUND', message);
  return asGrexError(err);
}

export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown, logger?: Logger): FastifyReply {
  const error = toGrexError(err);
  if (error.status >= 500 && error.status !== 503 && error.status !== 504) {
    logger?.error({ err, code: error.code, url: request.url }, error.message);
  }
  const retryAfter = error.data?.retryAfterSeconds;
  if (error.status === 503) reply.header('retry-after', String(typeof retryAfter === 'number' ? retryAfter : 1));
  reply.code(error.status);
  return sendValue(request, reply, { error: error.toWire() });
}
