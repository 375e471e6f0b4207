/**
 * Raw item access:
 *
 *   GET    /buckets/:bucketKey/items            -> { bucketKey, flock, items: [{ itemKey, version, size, encoding }] }
 *   GET    /buckets/:bucketKey/items/:itemKey   -> the item's bytes, header Grex-Version (?local=true: this node's replica)
 *   PUT    /buckets/:bucketKey/items/:itemKey   -> { bucketKey, itemKey, version } (If-Match: <version> optional)
 *   DELETE /buckets/:bucketKey/items/:itemKey   -> { bucketKey, itemKey, version }
 *
 * A PUT body of type application/msgpack is stored as a msgpack item (jobs
 * get it decoded) and must be valid msgpack; any other type is stored as raw
 * bytes. Writes take the bucket's turn in the job queue.
 */
import type { FastifyInstance } from 'fastify';
import { bytesToKeep, itemCodec } from '../codec.js';
import { GrexError } from '../errors.js';
import { assertBucketKey, assertItemKey } from '../keys.js';
import { formatVersion, NO_VERSION, parseVersion, type Version } from '../store/index.js';
import { MSGPACK, isMsgpack, sendValue } from './replies.js';
import type { NodeApi } from './node-api.js';

interface ItemParams {
  bucketKey: string;
  itemKey: string;
}

function parseIfMatch(header: string | string[] | undefined): Version | undefined {
  if (header === undefined) return undefined;
  const text = (Array.isArray(header) ? header[0]! : header).trim().replace(/^"(.*)"$/, '$1');
  if (text === '0') return NO_VERSION;
  const version = parseVersion(text);
  if (version === null) throw new GrexError('GREX_ERR_VERSION_INVALID', `If-Match ${JSON.stringify(text)} is not a version like 1-42 (or 0 for "absent")`);
  return version;
}

export async function itemRoutes(app: FastifyInstance, options: { node: NodeApi }): Promise<void> {
  const { node } = options;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.get<{ Params: { bucketKey: string } }>('/buckets/:bucketKey/items', async (request, reply) => {
    const { bucketKey } = request.params;
    assertBucketKey(bucketKey);
    const items = await node.listItems(bucketKey);
    return sendValue(request, reply, { bucketKey, flock: node.route(bucketKey).flock, items });
  });

  app.get<{ Params: ItemParams; Querystring: { local?: string } }>('/buckets/:bucketKey/items/:itemKey', async (request, reply) => {
    const { bucketKey, itemKey } = request.params;
    assertBucketKey(bucketKey);
    assertItemKey(itemKey);
    // ?local=true: this node's own replica, not the active node's copy.
    const record = await node.readItem(bucketKey, itemKey, { local: request.query.local === 'true' });
    if (record === undefined) throw new GrexError('GREX_ERR_ITEM_NOT_FOUND', `bucket has no item ${JSON.stringify(itemKey)}`);
    return reply
      .header('grex-version', formatVersion(record.version))
      .type(record.encoding === 'msgpack' ? MSGPACK : 'application/octet-stream')
      .send(Buffer.from(record.payload.buffer, record.payload.byteOffset, record.payload.byteLength));
  });

  app.put<{ Params: ItemParams }>('/buckets/:bucketKey/items/:itemKey', async (request, reply) => {
    const { bucketKey, itemKey } = request.params;
    const msgpack = isMsgpack(request.headers['content-type']);
    const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    if (msgpack) {
      try {
        itemCodec.unpack(bytes);
      } catch (err) {
        throw new GrexError('GREX_ERR_BODY_MALFORMED', `body is not valid msgpack: ${(err as Error).message}`);
      }
    }
    const version = await node.writeItem({
      bucketKey,
      itemKey,
      // A large body is a buffer of its own (fastify joined its chunks): kept as it is, not copied.
      bytes: bytesToKeep(bytes),
      encoding: msgpack ? 'msgpack' : 'raw',
      ifMatch: parseIfMatch(request.headers['if-match']),
    });
    reply.header('grex-version', formatVersion(version));
    return sendValue(request, reply, { bucketKey, itemKey, version: formatVersion(version) });
  });

  app.delete<{ Params: ItemParams }>('/buckets/:bucketKey/items/:itemKey', async (request, reply) => {
    const { bucketKey, itemKey } = request.params;
    const version = await node.writeItem({
      bucketKey,
      itemKey,
      bytes: null,
      encoding: 'raw',
      ifMatch: parseIfMatch(request.headers['if-match']),
    });
    reply.header('grex-version', formatVersion(version));
    return sendValue(request, reply, { bucketKey, itemKey, version: formatVersion(version), deleted: true });
  });
}
