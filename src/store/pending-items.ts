/**
 * The pending table of an ItemStore: committed records (in the log, acknowledged)
 * not yet written to their item files, per item a chain of the newest whole
 * record and the deltas on top of it. Reads are served from here until the
 * apply loop (apply-loop.ts) has written the item.
 *
 * It also keeps what depends on exactly which records are pending: the memory
 * they take and its bound (`pendingBytesMax`: commits wait for room), the
 * count of pending records per log segment (a segment may be removed only
 * once nothing in it is pending, see checkpoints.ts), the items by bucket
 * (for listings) and the line of items waiting to be written, oldest first.
 *
 * No IO: the store's collaborators do that and tell the table what changed.
 */
import { DeltaChain } from './delta-chain.js';
import { deltaFit } from './item-delta.js';
import type { ItemHeader, ItemRecord } from './item-record.js';
import { compareVersions, NO_VERSION, type Version } from './version.js';

/** An item's committed records not yet in its file. */
export interface PendingItem {
  flock: number;
  bucketKey: string;
  itemKey: string;
  /** The newest whole record (or purge) not yet in the file; null: the file holds what the deltas build on. */
  base: ItemRecord | null;
  /** Log segments holding base (more than one once a read folded deltas into it). */
  baseSegments: number[];
  /** Deltas on top of base, in log order, with the segment of each. */
  deltas: DeltaChain;
  /** Size of the item file when base is null and it is known (for size estimates). */
  fileSize: number;
  /** Memory held: payloads and a per-record overhead. */
  bytes: number;
  /** When the oldest record here was committed (Date.now()): the item is written applyDelayMs later. */
  since: number;
}

/** Memory a pending record takes besides its payload (objects, views), counted toward pendingBytesMax. */
const RECORD_OVERHEAD_BYTES = 256;
export const heldBytes = (record: ItemRecord) => record.payload.byteLength + RECORD_OVERHEAD_BYTES;

// NUL never occurs in keys: it separates the parts unambiguously.
export const itemId = (flock: number, bucketKey: string, itemKey: string) => `${flock}\0${bucketKey}\0${itemKey}`;
const bucketId = (flock: number, bucketKey: string) => `${flock}\0${bucketKey}`;

export function headerOf(record: ItemRecord): ItemHeader {
  return {
    bucketKey: record.bucketKey,
    itemKey: record.itemKey,
    version: record.version,
    tombstone: record.tombstone,
    encoding: record.encoding,
    size: record.payload.byteLength,
  };
}

/** The version deltas must name as their base: a purged item is absent. */
export function stateVersion(entry: PendingItem): Version {
  const last = entry.deltas.lastVersion();
  if (last !== undefined) return last;
  return entry.base!.purge === true ? NO_VERSION : entry.base!.version;
}

/** The version of the newest record of an entry (a purge's own), for ordering whole records. */
export function tipVersion(entry: PendingItem): Version {
  return entry.deltas.lastVersion() ?? entry.base!.version;
}

/** What a listing shows of a pending item: a header, or 'purged'. */
export function pendingHeader(entry: PendingItem): ItemHeader | 'purged' {
  const last = entry.deltas.lastVersion();
  if (last === undefined) return entry.base!.purge === true ? 'purged' : headerOf(entry.base!);
  return { bucketKey: entry.bucketKey, itemKey: entry.itemKey, version: last, tombstone: false, encoding: 'msgpack', size: sizeEstimate(entry) };
}

/** The item's size with its deltas, counting appended bytes and not what `keep` drops: an upper bound. */
function sizeEstimate(entry: PendingItem): number {
  const base = entry.base === null ? entry.fileSize : entry.base.purge === true || entry.base.tombstone ? 0 : entry.base.payload.byteLength;
  return base + entry.deltas.byteLength;
}

export class PendingItems {
  readonly #pendingBytesMax: number;
  /** Committed records not yet written to their item files, by item. */
  readonly #pending = new Map<string, PendingItem>();
  /** itemKeys of pending records, by bucket (for listings). */
  readonly #pendingBuckets = new Map<string, Set<string>>();
  #pendingBytes = 0;
  /**
   * Items with records to write, oldest first (an item keeps its place until written).
   * add() queues an item; the apply loop takes items out, puts back those it
   * must try again and moves a rewritten item to the back.
   */
  readonly toApply = new Set<string>();
  /** Pending records per log segment: a segment can go once its count is zero. */
  readonly #outstanding = new Map<number, number>();
  #spaceWaiters: (() => void)[] = [];

  constructor(pendingBytesMax: number) {
    this.#pendingBytesMax = pendingBytesMax;
  }

  get(id: string): PendingItem | undefined {
    return this.#pending.get(id);
  }

  has(id: string): boolean {
    return this.#pending.has(id);
  }

  /** Items pending. */
  get size(): number {
    return this.#pending.size;
  }

  values(): IterableIterator<PendingItem> {
    return this.#pending.values();
  }

  /** itemKeys of a bucket's pending records. */
  bucketItems(flock: number, bucketKey: string): ReadonlySet<string> | undefined {
    return this.#pendingBuckets.get(bucketId(flock, bucketKey));
  }

  /** Memory of committed records not yet in item files (payloads plus a per-record overhead). */
  get bytes(): number {
    return this.#pendingBytes;
  }

  get bytesMax(): number {
    return this.#pendingBytesMax;
  }

  /** Pending records per log segment (segments absent here hold none). */
  get outstanding(): ReadonlyMap<number, number> {
    return this.#outstanding;
  }

  /** Commits waiting for pending memory to drop to pendingBytesMax. */
  get spaceWaiting(): number {
    return this.#spaceWaiters.length;
  }

  /** Calls `wake` once pending memory is at most pendingBytesMax. */
  whenRoom(wake: () => void): void {
    this.#spaceWaiters.push(wake);
  }

  /** Adds a logged record to its item's chain; false for a delta that no longer fits it (left out). */
  add(flock: number, record: ItemRecord, segment: number, force: boolean, fileSizes: Map<string, number>): boolean {
    const id = itemId(flock, record.bucketKey, record.itemKey);
    let entry = this.#pending.get(id);
    if (record.delta === true) {
      if (entry !== undefined && deltaFit(stateVersion(entry), record) !== 'applies') return false;
      // Without an entry, the item file holds its base (checked before the append).
      entry ??= this.#newEntry(id, flock, record, null, fileSizes.get(id) ?? 0);
      const before = entry.deltas.heldBytes;
      entry.deltas.push(record, segment);
      entry.bytes += entry.deltas.heldBytes - before;
      this.#pendingBytes += entry.deltas.heldBytes - before;
    } else {
      let since: number | undefined;
      if (entry !== undefined) {
        // Out-of-order arrivals of one item keep the newer; a forced record always wins.
        if (!force && compareVersions(tipVersion(entry), record.version) > 0) return true;
        since = entry.since;
        this.drop(id, entry);
      }
      entry = this.#newEntry(id, flock, record, record, 0);
      // The item keeps its place in line and the time it started waiting: were a replacement to
      // restart the clock, an item rewritten faster than the delay would hold back all behind it.
      if (since !== undefined) entry.since = since;
      entry.baseSegments.push(segment);
      entry.bytes += heldBytes(record);
      this.#pendingBytes += heldBytes(record);
    }
    this.#outstanding.set(segment, (this.#outstanding.get(segment) ?? 0) + 1);
    this.toApply.add(id);
    return true;
  }

  #newEntry(id: string, flock: number, record: ItemRecord, base: ItemRecord | null, fileSize: number): PendingItem {
    const entry: PendingItem = {
      flock,
      bucketKey: record.bucketKey,
      itemKey: record.itemKey,
      base,
      baseSegments: [],
      deltas: new DeltaChain(record.bucketKey, record.itemKey),
      fileSize,
      bytes: 0,
      since: Date.now(),
    };
    this.#pending.set(id, entry);
    let items = this.#pendingBuckets.get(bucketId(flock, record.bucketKey));
    if (items === undefined) this.#pendingBuckets.set(bucketId(flock, record.bucketKey), (items = new Set()));
    items.add(record.itemKey);
    return entry;
  }

  /** Removes an item's entry: its records are in its file, replaced by newer ones, or dropped. */
  drop(id: string, entry: PendingItem): void {
    this.#pending.delete(id);
    const bucket = bucketId(entry.flock, entry.bucketKey);
    const items = this.#pendingBuckets.get(bucket);
    items?.delete(entry.itemKey);
    if (items?.size === 0) this.#pendingBuckets.delete(bucket);
    this.#pendingBytes -= entry.bytes;
    this.release(entry.baseSegments);
    this.release(entry.deltas.segments());
    this.#wakeSpaceWaiters();
  }

  /** The records counted in these segments are in their files now (or replaced by newer ones). */
  release(segments: readonly number[]): void {
    for (const segment of segments) {
      const left = (this.#outstanding.get(segment) ?? 1) - 1;
      if (left === 0) this.#outstanding.delete(segment);
      else this.#outstanding.set(segment, left);
    }
  }

  #wakeSpaceWaiters(): void {
    if (this.#pendingBytes <= this.#pendingBytesMax) for (const wake of this.#spaceWaiters.splice(0)) wake();
  }

  /** Counts an entry's memory again after its base or deltas changed. */
  resize(entry: PendingItem): void {
    const bytes = entry.deltas.heldBytes + (entry.base === null ? 0 : heldBytes(entry.base));
    this.#pendingBytes += bytes - entry.bytes;
    entry.bytes = bytes;
    this.#wakeSpaceWaiters();
  }
}
