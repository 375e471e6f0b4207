/**
 * The storage seam. A backend keeps item records and per-flock metadata and
 * knows nothing of jobs, versions policy or the cluster. Implementations:
 * the filesystem (default) and memory (tests); others (LMDB, S3) fit here.
 *
 * Contract every backend keeps (test/unit/store/backend-contract.ts checks it):
 * - `write` stores each record atomically: a reader sees the old record or
 *   the new one, never a torn one, even after a crash mid-write;
 * - when `write` resolves, the records are durable per the fsync policy;
 * - `read` verifies checksums and throws GREX_ERR_STORE_CORRUPT rather than
 *   return bytes that fail them;
 * - tombstones are records too: `read` and `list` return them.
 */
import type { ItemHeader, ItemRecord } from './item-record.js';
import type { StoreUsage } from './usage-tally.js';

export type FsyncPolicy = 'always' | 'never';

export interface WriteOptions {
  /**
   * Make the records durable before resolving (per the fsync policy). Default
   * true. False when a write-ahead log already holds them: they are made
   * durable later, in bulk, by `sync`.
   */
  durable?: boolean;
  /**
   * Per record, the payload bytes of the item file it replaces, when the
   * caller knows them (null: there is none); saves a backend that counts
   * its bytes a look at the old file. Undefined entries are looked up.
   */
  replacing?: readonly (number | null | undefined)[];
}

/** Names one item. */
export interface ItemRef {
  flock: number;
  bucketKey: string;
  itemKey: string;
}

export interface Backend {
  /** Prepares the backend (create folders, remove stray temp files, take the lock). */
  open(): Promise<void>;
  close(): Promise<void>;
  /** An item's record, tombstones included; undefined when there is none. */
  read(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined>;
  /** Stores records of one flock, each atomically; durable per the fsync policy once resolved (unless `durable: false`). */
  write(flock: number, records: readonly ItemRecord[], options?: WriteOptions): Promise<void>;
  /** Makes earlier non-durable writes of these items durable (files and the folders naming them). */
  sync(items: readonly ItemRef[]): Promise<void>;
  /** Removes an item's record for good (tombstone collection, dropping a flock). */
  remove(flock: number, bucketKey: string, itemKey: string): Promise<void>;
  /** Headers of a bucket's items, tombstones included, in no particular order (damaged files: `corrupt`). */
  list(flock: number, bucketKey: string): Promise<ItemHeader[]>;
  /** The bucket keys that have records in a flock. */
  buckets(flock: number): AsyncIterable<string>;
  /** Opaque per-flock metadata (leadership term, sequence reservation). */
  readFlockMeta(flock: number): Promise<Uint8Array | undefined>;
  writeFlockMeta(flock: number, bytes: Uint8Array): Promise<void>;
  /**
   * Optional: composes deltas onto a start record (item-delta.ts composeItem)
   * and writes the result behind the log (not durable, like `write` with
   * `durable: false`), off the main thread. Undefined when this backend
   * cannot now: the caller composes and writes itself.
   */
  writeComposed?(
    flock: number,
    item: { bucketKey: string; itemKey: string; start: ItemRecord | undefined; deltas: readonly ItemRecord[] },
    replacing: number | null | undefined,
  ): Promise<{ record: ItemRecord | undefined; applied: number }> | undefined;
  /** Item records held and their bytes, kept as a running count (for metrics); optional. */
  usage?(): StoreUsage;
}
