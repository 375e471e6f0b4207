/**
 * A backend that keeps records in process memory: for tests and for nodes
 * whose data may vanish with the process. Records are stored encoded, exactly
 * as on disk, so checksums and decoding follow the same path as the
 * filesystem backend.
 */
import type { Backend, ItemRef, WriteOptions } from './backend.js';
import { decodeItemHeader, decodeItemRecord, encodeItemRecord, type ItemHeader, type ItemRecord } from './item-record.js';
import type { StoreUsage } from './usage-tally.js';

export class MemoryBackend implements Backend {
  readonly #flocks = new Map<number, Map<string, Map<string, Buffer>>>();
  readonly #meta = new Map<number, Uint8Array>();
  #items = 0;
  #bytes = 0;

  async open(): Promise<void> {}

  async close(): Promise<void> {}

  async read(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    const bytes = this.#flocks.get(flock)?.get(bucketKey)?.get(itemKey);
    if (bytes === undefined) return undefined;
    const record = decodeItemRecord(bytes, `${flock}/${bucketKey}/${itemKey}`, { bucketKey, itemKey });
    // A copy: callers must not be able to change the stored bytes through the payload.
    return { ...record, payload: new Uint8Array(record.payload) };
  }

  async write(flock: number, records: readonly ItemRecord[], _options?: WriteOptions): Promise<void> {
    let buckets = this.#flocks.get(flock);
    if (buckets === undefined) this.#flocks.set(flock, (buckets = new Map()));
    for (const record of records) {
      let items = buckets.get(record.bucketKey);
      if (items === undefined) buckets.set(record.bucketKey, (items = new Map()));
      const encoded = encodeItemRecord(record);
      const before = items.get(record.itemKey);
      if (before === undefined) this.#items++;
      this.#bytes += encoded.byteLength - (before?.byteLength ?? 0);
      items.set(record.itemKey, encoded);
    }
  }

  async sync(_items: readonly ItemRef[]): Promise<void> {}

  async remove(flock: number, bucketKey: string, itemKey: string): Promise<void> {
    const buckets = this.#flocks.get(flock);
    const items = buckets?.get(bucketKey);
    const before = items?.get(itemKey);
    if (items === undefined || before === undefined) return;
    items.delete(itemKey);
    this.#items--;
    this.#bytes -= before.byteLength;
    if (items.size === 0) buckets!.delete(bucketKey);
  }

  async list(flock: number, bucketKey: string): Promise<ItemHeader[]> {
    const items = this.#flocks.get(flock)?.get(bucketKey);
    if (items === undefined) return [];
    return [...items].map(([itemKey, bytes]) => {
      // Headers only, as the filesystem backend returns them: payloadOffset is internal.
      const { payloadOffset: _payloadOffset, purge: _purge, delta: _delta, ...header } = decodeItemHeader(bytes, `${flock}/${bucketKey}/${itemKey}`);
      return header;
    });
  }

  async *buckets(flock: number): AsyncIterable<string> {
    yield* [...(this.#flocks.get(flock)?.keys() ?? [])];
  }

  async readFlockMeta(flock: number): Promise<Uint8Array | undefined> {
    return this.#meta.get(flock);
  }

  async writeFlockMeta(flock: number, bytes: Uint8Array): Promise<void> {
    this.#meta.set(flock, Uint8Array.from(bytes));
  }

  usage(): StoreUsage {
    return { items: this.#items, bytes: this.#bytes, counted: true };
  }
}
