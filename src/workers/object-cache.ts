/**
 * A worker thread's cache of decoded items, bounded in bytes.
 *
 * Entries are keyed by bucket and item. Each cached bucket remembers the
 * generation its copies belong to; a task whose bucket generation differs
 * (another thread or the network changed the bucket, or a commit failed)
 * drops them before the job runs. That is what keeps a thread that served a
 * bucket long ago from handing a job an old object.
 *
 * The size of a decoded object is not measurable in JavaScript, so it is
 * estimated from its encoded size: decoded objects take about five times
 * their msgpack bytes (measured on record lists), plus a fixed overhead.
 */
import { LRUCache } from 'lru-cache';

export const DECODED_SIZE_FACTOR = 5;
export const ENTRY_OVERHEAD_BYTES = 64;

export type CacheEntry =
  | { kind: 'value'; value: unknown; size: number }
  | { kind: 'raw'; bytes: Uint8Array; size: number }
  | { kind: 'absent'; size: number };

export function valueEntry(value: unknown, encodedBytes: number): CacheEntry {
  return { kind: 'value', value, size: ENTRY_OVERHEAD_BYTES + Math.ceil(DECODED_SIZE_FACTOR * encodedBytes) };
}

/** The encoded size a value entry was estimated from. */
export function encodedBytesOf(entry: CacheEntry & { kind: 'value' }): number {
  return Math.max(0, (entry.size - ENTRY_OVERHEAD_BYTES) / DECODED_SIZE_FACTOR);
}

export function rawEntry(bytes: Uint8Array): CacheEntry {
  return { kind: 'raw', bytes, size: ENTRY_OVERHEAD_BYTES + bytes.byteLength };
}

export const ABSENT_ENTRY: CacheEntry = Object.freeze({ kind: 'absent', size: ENTRY_OVERHEAD_BYTES });

interface BucketState {
  gen: number;
  items: Set<string>;
}

// NUL cannot occur in keys, so it separates bucket and item unambiguously.
const cacheKey = (bucketKey: string, itemKey: string) => `${bucketKey}\0${itemKey}`;

export class ObjectCache {
  readonly maxBytes: number;
  hits = 0;
  misses = 0;
  evictions = 0;
  readonly #lru: LRUCache<string, CacheEntry>;
  readonly #buckets = new Map<string, BucketState>();

  constructor(maxBytes: number) {
    this.maxBytes = Math.max(1, Math.floor(maxBytes));
    this.#lru = new LRUCache<string, CacheEntry>({
      maxSize: this.maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.size),
      dispose: (_entry, key, reason) => {
        if (reason === 'evict') this.evictions++;
        if (reason !== 'set') this.#forget(key);
      },
    });
  }

  #forget(key: string): void {
    const cut = key.indexOf('\0');
    const bucketKey = key.slice(0, cut);
    const bucket = this.#buckets.get(bucketKey);
    if (bucket === undefined) return;
    bucket.items.delete(key.slice(cut + 1));
    if (bucket.items.size === 0) this.#buckets.delete(bucketKey);
  }

  /** Before a job: drops the bucket's copies unless they belong to generation `gen`. */
  sync(bucketKey: string, gen: number): void {
    const bucket = this.#buckets.get(bucketKey);
    if (bucket !== undefined && bucket.gen !== gen) this.dropBucket(bucketKey);
  }

  /** After a job that changed the bucket: its copies now belong to `gen`. */
  setGen(bucketKey: string, gen: number): void {
    const bucket = this.#buckets.get(bucketKey);
    if (bucket !== undefined) bucket.gen = gen;
  }

  dropBucket(bucketKey: string): void {
    const bucket = this.#buckets.get(bucketKey);
    if (bucket === undefined) return;
    this.#buckets.delete(bucketKey);
    for (const itemKey of bucket.items) this.#lru.delete(cacheKey(bucketKey, itemKey));
  }

  /** A cached entry; counts a hit or a miss. */
  lookup(bucketKey: string, itemKey: string): CacheEntry | undefined {
    const entry = this.#lru.get(cacheKey(bucketKey, itemKey));
    if (entry === undefined) this.misses++;
    else this.hits++;
    return entry;
  }

  /** A cached entry, without counting a hit or a miss or making it recent. */
  peek(bucketKey: string, itemKey: string): CacheEntry | undefined {
    return this.#lru.peek(cacheKey(bucketKey, itemKey));
  }

  /** Caches an entry of a bucket at generation `gen` (entries larger than the whole budget are not kept). */
  store(bucketKey: string, itemKey: string, entry: CacheEntry, gen: number): void {
    const key = cacheKey(bucketKey, itemKey);
    let bucket = this.#buckets.get(bucketKey);
    if (bucket === undefined) this.#buckets.set(bucketKey, (bucket = { gen, items: new Set() }));
    bucket.items.add(itemKey);
    this.#lru.set(key, entry);
    if (!this.#lru.has(key)) this.#forget(key);
  }

  get bytes(): number {
    return this.#lru.calculatedSize;
  }

  get items(): number {
    return this.#lru.size;
  }

  get bucketCount(): number {
    return this.#buckets.size;
  }
}
