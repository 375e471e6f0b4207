/**
 * The worker end of a thread's store channel: asks the main thread for items
 * the cache does not hold. One request per miss; replies carry bytes in
 * ArrayBuffers of their own (transferred).
 */
import { MessageChannel, parentPort, threadId, type MessagePort } from 'node:worker_threads';
import { fromWire, GrexError } from '../errors.js';
import type { ItemEncoding } from '../store/item-record.js';
import type { JobReplies, StoreReply, StoreRequest, StorePortHello } from './protocol.js';

type Pending = { resolve: (reply: StoreReply) => void; reject: (err: Error) => void };

type StoreRequestBody = StoreRequest extends infer R ? (R extends StoreRequest ? Omit<R, 'id'> : never) : never;

export class StorePort {
  readonly #port: MessagePort;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    port1.on('message', (reply: StoreReply) => this.#onReply(reply));
    // Idle workers must not be kept alive by this port: piscina owns their lifetime.
    port1.unref();
    const hello: StorePortHello = { grexStorePort: port2 as unknown as StorePortHello['grexStorePort'], threadId };
    parentPort!.postMessage(hello, [port2]);
  }

  #onReply(reply: StoreReply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#port.unref();
    pending.resolve(reply);
  }

  #request(body: StoreRequestBody): Promise<StoreReply> {
    const id = this.#nextId++;
    return new Promise<StoreReply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) this.#port.ref();
      this.#port.postMessage({ ...body, id } as StoreRequest);
    });
  }

  async get(bucketKey: string, itemKey: string): Promise<{ bytes: Uint8Array; encoding: ItemEncoding } | undefined> {
    const reply = await this.#request({ op: 'get', bucketKey, itemKey });
    if (!reply.ok) throw fromWire(reply.error);
    if (!('bytes' in reply)) throw new GrexError('GREX_ERR_INTERNAL', 'store reply without bytes');
    return reply.bytes === null ? undefined : { bytes: reply.bytes, encoding: reply.encoding ?? 'raw' };
  }

  /** Sends answers to jobs of batches to the main thread (their buffers moved). */
  postReplies(replies: JobReplies, transfer: ArrayBuffer[]): void {
    this.#port.postMessage(replies, transfer);
  }

  async keys(bucketKey: string): Promise<string[]> {
    const reply = await this.#request({ op: 'keys', bucketKey });
    if (!reply.ok) throw fromWire(reply.error);
    if (!('keys' in reply)) throw new GrexError('GREX_ERR_INTERNAL', 'store reply without keys');
    return reply.keys;
  }
}
