/**
 * The `ctx` a job receives, inside a worker thread.
 *
 * Reads go to the thread's cache, then to the main thread's store on a miss.
 * Writes are only recorded here: when the job returns, `changes()` encodes
 * them for the main thread to version, persist and (in a cluster) replicate.
 * Until then the job sees its own writes.
 */
import { itemCodec, ownedBytes, packItemOwned } from '../codec.js';
import { GrexError } from '../errors.js';
import type { AppendOptions, JobContext } from '../job.js';
import { assertItemKey } from '../keys.js';
import { MAX_KEEP } from '../store/item-delta.js';
import { ABSENT_ENTRY, encodedBytesOf, rawEntry, valueEntry, type CacheEntry, type ObjectCache } from './object-cache.js';
import type { StorePort } from './store-port.js';

/**
 * A job's write of one item. `append`: the list (the cached object, changed
 * in place) and the values this job appended to it, all with the same
 * `keep`; only those values are encoded when the job returns.
 */
type Write =
  | { kind: 'value'; value: unknown }
  | { kind: 'raw'; bytes: Uint8Array }
  | { kind: 'delete' }
  | { kind: 'append'; list: unknown[]; added: unknown[]; keep: number; baseLength: number; baseBytes: number };

/** An encoded change, and the entry the cache keeps for it once the job returns. */
export interface EncodedChange {
  itemKey: string;
  /** The whole item, null for a delete, or only the appended values (appendKeep set). */
  bytes: Uint8Array | null;
  encoding: 'msgpack' | 'raw';
  /** Set for an append: the list keeps its last `appendKeep` values (0: all). */
  appendKeep?: number;
  entry: CacheEntry;
}

function notAList(itemKey: string): GrexError {
  return new GrexError('GREX_ERR_ITEM_VALUE_INVALID', `ctx.append(${JSON.stringify(itemKey)}): the item is not a list`);
}

/** Appends in place and drops the oldest values beyond `keep` (0: keeps all). */
function appendKeeping(list: unknown[], values: readonly unknown[], keep: number): void {
  for (const value of values) list.push(value);
  if (keep > 0 && list.length > keep) list.splice(0, list.length - keep);
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
      if (write.kind === 'append') return write.list as T;
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

  async append<T = unknown>(itemKey: string, values: readonly T[], options?: AppendOptions): Promise<number> {
    this.#check(itemKey);
    if (!Array.isArray(values)) {
      throw new GrexError('GREX_ERR_ITEM_VALUE_INVALID', `ctx.append(${JSON.stringify(itemKey)}, values) takes a list of values`);
    }
    const keep = options?.keep ?? 0;
    if (options?.keep !== undefined && (!Number.isInteger(keep) || keep < 1 || keep > MAX_KEEP)) {
      throw new GrexError('GREX_ERR_ITEM_VALUE_INVALID', `ctx.append(${JSON.stringify(itemKey)}): keep must be an integer from 1 to ${MAX_KEEP}`);
    }
    const write = this.#writes.get(itemKey);
    if (write !== undefined) return this.#appendToWrite(itemKey, write, values, keep);
    const entry = await this.#committed(itemKey);
    // The job may have written the item (or returned) while the item was read.
    this.#check(itemKey);
    const written = this.#writes.get(itemKey);
    if (written !== undefined) return this.#appendToWrite(itemKey, written, values, keep);
    let list: unknown[];
    let baseBytes = 0;
    if (entry.kind === 'absent') {
      list = [];
    } else if (entry.kind === 'value') {
      if (!Array.isArray(entry.value)) throw notAList(itemKey);
      list = entry.value;
      baseBytes = encodedBytesOf(entry);
    } else {
      const value = decodeItem(itemKey, entry.bytes);
      if (!Array.isArray(value)) throw notAList(itemKey);
      list = value;
      baseBytes = entry.bytes.byteLength;
    }
    const baseLength = list.length;
    appendKeeping(list, values, keep);
    this.#writes.set(itemKey, { kind: 'append', list, added: [...values], keep, baseLength, baseBytes });
    return list.length;
  }

  /** An append after another write of the item in this job: more of the same append, else a put of the list. */
  #appendToWrite(itemKey: string, write: Write, values: readonly unknown[], keep: number): number {
    if (write.kind === 'append') {
      appendKeeping(write.list, values, keep);
      // Appends with one `keep` add up to one delta; with different ones, the list is stored whole.
      if (write.keep === keep) for (const value of values) write.added.push(value);
      else this.#writes.set(itemKey, { kind: 'value', value: write.list });
      return write.list.length;
    }
    let list: unknown[];
    if (write.kind === 'delete') {
      list = [];
    } else {
      const value = write.kind === 'value' ? write.value : decodeItem(itemKey, write.bytes);
      if (!Array.isArray(value)) throw notAList(itemKey);
      list = value;
    }
    appendKeeping(list, values, keep);
    this.#writes.set(itemKey, { kind: 'value', value: list });
    return list.length;
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
      if (write.kind === 'append') return ownedBytes(itemCodec.pack(write.list));
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

  /** The item's encoded size as this thread last saw it, if it did. */
  #lastSize(itemKey: string): number | undefined {
    const entry = this.#cache.peek(this.bucketKey, itemKey);
    if (entry?.kind === 'value') return encodedBytesOf(entry);
    return entry?.kind === 'raw' ? entry.bytes.byteLength : undefined;
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
      } else if (write.kind === 'append') {
        let bytes: Uint8Array;
        try {
          bytes = ownedBytes(itemCodec.pack(write.added));
        } catch (err) {
          throw new GrexError('GREX_ERR_ITEM_VALUE_INVALID', `values appended to ${JSON.stringify(itemKey)} cannot be encoded: ${(err as Error).message}`);
        }
        // The cache's size estimate: the item's encoded size before, plus the appended bytes, less what keep dropped.
        const total = write.baseLength + write.added.length;
        const encoded = (write.baseBytes + bytes.byteLength) * (total === 0 ? 1 : write.list.length / total);
        changes.push({ itemKey, bytes, encoding: 'msgpack', appendKeep: write.keep, entry: valueEntry(write.list, encoded) });
      } else {
        let bytes: Uint8Array;
        try {
          // Packed into a buffer of its own (it is moved to the main thread), sized from the item's last size.
          bytes = packItemOwned(write.value, this.#lastSize(itemKey));
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
