/**
 * POST /buckets/:bucketKey/jobs/:jobName
 *
 * The body (JSON or msgpack) is handed to the job thread undecoded, and the
 * result comes back already encoded for the answer, so the main thread never
 * parses or serialises job payloads: it only wraps them.
 */
import type { FastifyInstance } from 'fastify';
import { wireCodec } from '../codec.js';
import { GrexError } from '../errors.js';
import { JSON_TYPE, MSGPACK, isMsgpack, wantsMsgpack } from './replies.js';
import type { NodeApi } from './node-api.js';

interface JobParams {
  bucketKey: string;
  jobName: string;
}

const MSGPACK_RESULT_KEY = Buffer.from([0x82, ...wireCodec.pack('result')]);
const MSGPACK_ACTIVE_NODE_KEY = Buffer.from(wireCodec.pack('activeNode'));

/** `{ result, activeNode }` around an already-encoded result. */
export function wrapJsonAnswer(resultJson: string, activeNode: string): string {
  return `{"result":${resultJson},"activeNode":${JSON.stringify(activeNode)}}`;
}

export function wrapMsgpackAnswer(resultBytes: Uint8Array, activeNode: string): Buffer {
  return Buffer.concat([MSGPACK_RESULT_KEY, resultBytes, MSGPACK_ACTIVE_NODE_KEY, wireCodec.pack(activeNode)]);
}

export async function jobRoutes(app: FastifyInstance, options: { node: NodeApi }): Promise<void> {
  const { node } = options;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser(MSGPACK, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.post<{ Params: JobParams }>('/buckets/:bucketKey/jobs/:jobName', async (request, reply) => {
    const { bucketKey, jobName } = request.params;
    const msgpackIn = isMsgpack(request.headers['content-type']);
    const msgpackOut = wantsMsgpack(request);
    const body = request.body as string | Buffer | undefined;
    if (body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body)) {
      throw new GrexError('GREX_ERR_BODY_MALFORMED', 'unexpected request body');
    }
    const answer = await node.runJob({
      bucketKey,
      jobName,
      data: body,
      dataEncoding: msgpackIn ? 'msgpack' : 'json',
      resultEncoding: msgpackOut ? 'msgpack' : 'json',
    });
    const route = node.route(bucketKey);
    reply.header('grex-active-node', answer.activeNode).header('grex-flock', `${route.flock}/${route.flocks}`);
    if (msgpackOut) return reply.type(MSGPACK).send(wrapMsgpackAnswer(answer.result as Uint8Array, answer.activeNode));
    return reply.type(JSON_TYPE).send(wrapJsonAnswer(answer.result as string, answer.activeNode));
  });
}
