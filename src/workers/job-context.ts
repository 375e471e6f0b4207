/**
 * The `ctx` a job receives, inside a worker thread.
 *
 * Reads go to the thread's cache, then to the main thread's store on a miss.
 * Writes are only recorded here: when the job returns, `changes()` encodes
 * them for the main thread to version, persist and (in a cluster) replicate.
 * Until then the job sees its own writes.
 */
import { itemCodec, ownedBytes } from '../codec.js';
import { GrexError } from '../errors.js';
import type { JobContext } from '../job.js';
import { assertItemKey } from '../keys.js';
import { ABSENT_ENTRY, rawEntry, valueEntry, type CacheEntry, type ObjectCache } from './object-cache.js';
import type { StorePort } from './store-port.js';

type Write = { kind: 'value'; value: unknown } | { kind: 'raw'; bytes: Uint8Array } | { kind: 'delete' };

/** An encoded change, and the entry the cache keeps for it once the job returns. */
export interface EncodedChange {
  itemKey: string;
  bytes: Uint8Array | null;
  encoding: 'msgpack' | 'raw';
  entry: CacheEntry;
}

function decodeItem(itemKey: string, bytes: Uint8Array): unknown {
  try {
    return itemCodec.unpack(bytes);
  } catch (err) {
    throw new GrexError(
      'GREX_ERR_ITEM_VALUE_INVALID',
      `item ${JSON.stringify(itemKey)} is not msgpack (${(err as Error).message}); read it with ctx.getBytes`,
    );
  }
}

export class WorkerJobContext implements JobContext {
  readonly bucketKey: string;
  readonly #cache: ObjectCache;
  readonly #store: StorePort;
  readonly #gen: number;
  readonly #writes = new Map<string, Write>();
  #closed = false;

  constructor(bucketKey: string, gen: number, cache: ObjectCache, store: StorePort) {
    this.bucketKey = bucketKey;
    this.#gen = gen;
    this.#cache = cache;
    this.#store = store;
  }

  #check(itemKey: string): void {
    if (this.#closed) {
      throw new GrexError('GREX_ERR_JOB_FAILED', `ctx of bucket ${this.bucketKey} used after its job returned`);
    }
    assertItemKey(itemKey);
  }

  /** The committed entry of an item: from the cache, else from the store (then cached). */
  async #committed(itemKey: string): Promise<CacheEntry> {
    const cached = this.#cache.lookup(this.bucketKey, itemKey);
    if (cached !== undefined) return cached;
    const stored = await this.#store.get(this.bucketKey, itemKey);
    let entry: CacheEntry;
    if (stored === undefined) entry = ABSENT_ENTRY;
    else if (stored.encoding === 'msgpack') entry = valueEntry(decodeItem(itemKey, stored.bytes), stored.bytes.byteLength);
    else entry = rawEntry(stored.bytes);
    this.#cache.store(this.bucketKey, itemKey, entry, this.#gen);
    return entry;
  }

  async get<T = unknown>(itemKey: string): Promise<T | undefined> {
    this.#check(itemKey);
    const write = this.#writes.get(itemKey);
    if (write !== undefined) {
      if (write.kind === 'value') return write.value as T;
      return write.kind === 'raw' ? (decodeItem(itemKey, write.bytes) as T) : undefined;
    }
    const entry = await this.#committed(itemKey);
    if (entry.kind === 'value') return entry.value as T;
    if (entry.kind === 'absent') return undefined;
    // A raw item read as a value: decode it, and cache the value form for the next job.
    const value = decodeItem(itemKey, entry.bytes);
    this.#cache.store(this.bucketKey, itemKey, valueEntry(value, entry.bytes.byteLength), this.#gen);
    return value as T;
  }

  put(itemKey: string, value: unknown): void {
    this.#check(itemKey);
    if (value === undefined) {
      throw new GrexError('GREX_ERR_ITEM_VALUE_INVALID', `ctx.put(${JSON.stringify(itemKey)}, undefined): use ctx.delete to remove an item`);
    }
    this.#writes.set(itemKey, { kind: 'value', value });
  }

  delete(itemKey: string): void {
    this.#check(itemKey);
    this.#writes.set(itemKey, { kind: 'delete' });
  }

  async keys(): Promise<string[]> {
    if (this.#closed) throw new GrexError('GREX_ERR_JOB_FAILED', 'ctx used after its job returned');
    const keys = new Set(await this.#store.keys(this.bucketKey));
    for (const [itemKey, write] of this.#writes) {
      if (write.kind === 'delete') keys.delete(itemKey);
      else keys.add(itemKey);
    }
    return [...keys].sort();
  }

  async getBytes(itemKey: string): Promise<Uint8Array | undefined> {
    this.#check(itemKey);
    const write = this.#writes.get(itemKey);
    if (write !== undefined) {
      if (write.kind === 'raw') return write.bytes;
      return write.kind === 'value' ? ownedBytes(itemCodec.pack(write.value)) : undefined;
    }
    const cached = this.#cache.lookup(this.bucketKey, itemKey);
    if (cached?.kind === 'raw') return cached.bytes;
    if (cached?.kind === 'absent') return undefined;
    // The cache keeps the decoded form of msgpack items; their bytes come from the store.
    const stored = await this.#store.get(this.bucketKey, itemKey);
    return stored?.bytes;
  }

  putBytes(itemKey: string, bytes: Uint8Array): void {
    this.#check(itemKey);
    if (!(bytes instanceof Uint8Array)) {
      throw new GrexError('GREX_ERR_ITEM_VALUE_INVALID', `ctx.putBytes(${JSON.stringify(itemKey)}) takes a Uint8Array`);
    }
    this.#writes.set(itemKey, { kind: 'raw', bytes: ownedBytes(bytes) });
  }

  /** Ends the job: no more calls are accepted; returns its changes, encoded, each in its own buffer. */
  close(): EncodedChange[] {
    this.#closed = true;
    const changes: EncodedChange[] = [];
    for (const [itemKey, write] of this.#writes) {
      if (write.kind === 'delete') {
        changes.push({ itemKey, bytes: null, encoding: 'raw', entry: ABSENT_ENTRY });
      } else if (write.kind === 'raw') {
        changes.push({ itemKey, bytes: write.bytes, encoding: 'raw', entry: rawEntry(write.bytes) });
      } else {
        let bytes: Uint8Array;
        try {
          // pack() returns a view of the codec's scratch buffer: copy it out before the next pack.
          bytes = ownedBytes(itemCodec.pack(write.value));
        } catch (err) {
          throw new GrexError('GREX_ERR_ITEM_VALUE_INVALID', `item ${JSON.stringify(itemKey)} cannot be encoded: ${(err as Error).message}`);
        }
        changes.push({ itemKey, bytes, encoding: 'msgpack', entry: valueEntry(write.value, bytes.byteLength) });
      }
    }
    return changes;
  }

  /** Marks the context closed without encoding anything (the job failed). */
  abandon(): void {
    this.#closed = true;
  }
}
