/**
 * The thread's end of its line (see job-pool.ts): job batches come in on it,
 * answers go back on it, and so do reads of items the cache does not hold
 * (one request per miss; replies carry bytes in ArrayBuffers of their own,
 * transferred).
 */
import type { MessagePort } from 'node:worker_threads';
import { fromWire, GrexError } from '../errors.js';
import type { ItemEncoding } from '../store/item-record.js';
import type { JobBatch, JobReplies } from './line-messages.js';
import type { StoreReply, StoreRequest } from './protocol.js';

type Pending = { resolve: (reply: StoreReply) => void; reject: (err: Error) => void };

type StoreRequestBody = StoreRequest extends infer R ? (R extends StoreRequest ? Omit<R, 'id'> : never) : never;

export class StorePort {
  #port: MessagePort | null = null;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  /**
   * Serves a new line (a replacement thread gets one at its start); resolves
   * when it closes. Store requests still waiting on an older line fail.
   */
  attach(port: MessagePort, onJobs: (batch: JobBatch) => void): Promise<void> {
    this.#port?.close();
    this.#port = port;
    return new Promise<void>((resolve) => {
      port.on('message', (message: StoreReply | JobBatch) => {
        if (Array.isArray(message)) onJobs(message);
        else this.#onReply(message);
      });
      port.on('close', () => {
        if (this.#port === port) {
          this.#port = null;
          for (const pending of this.#pending.values()) pending.reject(new GrexError('GREX_ERR_INTERNAL', "the thread's line closed"));
          this.#pending.clear();
        }
        resolve();
      });
    });
  }

  #onReply(reply: StoreReply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    pending.resolve(reply);
  }

  #request(body: StoreRequestBody): Promise<StoreReply> {
    const port = this.#port;
    if (port === null) return Promise.reject(new GrexError('GREX_ERR_INTERNAL', 'the thread has no line to its store'));
    const id = this.#nextId++;
    return new Promise<StoreReply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      // Added, not spread into a copy (a new hidden class per read on Node 20).
      port.postMessage(Object.assign(body, { id }) as StoreRequest);
    });
  }

  async get(bucketKey: string, itemKey: string): Promise<{ bytes: Uint8Array; encoding: ItemEncoding } | undefined> {
    const reply = await this.#request({ op: 'get', bucketKey, itemKey });
    if (!reply.ok) throw fromWire(reply.error);
    if (!('bytes' in reply)) throw new GrexError('GREX_ERR_INTERNAL', 'store reply without bytes');
    return reply.bytes === null ? undefined : { bytes: reply.bytes, encoding: reply.encoding ?? 'raw' };
  }

  /** Sends answers to jobs to the main thread (their buffers moved). */
  postReplies(replies: JobReplies, transfer: ArrayBuffer[]): void {
    this.#port?.postMessage(replies, transfer);
  }

  async keys(bucketKey: string): Promise<string[]> {
    const reply = await this.#request({ op: 'keys', bucketKey });
    if (!reply.ok) throw fromWire(reply.error);
    if (!('keys' in reply)) throw new GrexError('GREX_ERR_INTERNAL', 'store reply without keys');
    return reply.keys;
  }
}
