/**
 * Reads of an ItemStore: what a read sees is the pending records
 * (pending-items.ts) over the item files. An item with pending deltas is
 * composed into the whole item, which then replaces the deltas in its
 * pending entry, so the next read does not compose again.
 */
import type { ApplyLoop } from './apply-loop.js';
import type { Backend } from './backend.js';
import { DeltaChain } from './delta-chain.js';
import { composeItem } from './item-delta.js';
import type { ItemHeader, ItemRecord } from './item-record.js';
import { headerOf, itemId, pendingHeader, type PendingItem, type PendingItems } from './pending-items.js';
import type { WrittenItems } from './written-items.js';

export class ItemReads {
  readonly #backend: Backend;
  readonly #pending: PendingItems;
  readonly #written: WrittenItems;
  readonly #apply: ApplyLoop;

  constructor(backend: Backend, pending: PendingItems, written: WrittenItems, apply: ApplyLoop) {
    this.#backend = backend;
    this.#pending = pending;
    this.#written = written;
    this.#apply = apply;
  }

  /** An item's record, tombstones included (deltas composed in: always the whole item). */
  async read(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    const id = itemId(flock, bucketKey, itemKey);
    const entry = this.#pending.get(id);
    if (entry === undefined) return this.#written.body(id) ?? this.#backend.read(flock, bucketKey, itemKey);
    if (entry.deltas.length === 0) return entry.base!.purge === true ? undefined : entry.base!;
    return this.compose(id, entry);
  }

  /**
   * An item's header (version, tombstone, encoding, size), tombstones
   * included, without composing its deltas: the size of an item with deltas
   * is an upper bound then. Throws GREX_ERR_STORE_CORRUPT for a damaged file.
   */
  async head(flock: number, bucketKey: string, itemKey: string): Promise<ItemHeader | undefined> {
    const id = itemId(flock, bucketKey, itemKey);
    const entry = this.#pending.get(id);
    if (entry !== undefined) {
      const header = pendingHeader(entry);
      return header === 'purged' ? undefined : header;
    }
    const written = this.#written.headers.get(id);
    if (written !== undefined) return written === 'absent' ? undefined : written;
    const applies = this.#written.applies;
    const record = await this.#backend.read(flock, bucketKey, itemKey);
    const header = record === undefined ? undefined : headerOf(record);
    this.#written.remember(id, header, applies);
    return header;
  }

  /** The whole item of a pending entry with deltas; the composed item then replaces them in the entry. */
  async compose(id: string, entry: PendingItem): Promise<ItemRecord | undefined> {
    const base = entry.base;
    const deltas = entry.deltas.records();
    const start = base === null ? (this.#written.body(id) ?? (await this.#backend.read(entry.flock, entry.bucketKey, entry.itemKey))) : base.purge === true ? undefined : base;
    const composed = composeItem(start, deltas);
    // Fold it in, unless the entry changed meanwhile or its file is being written (the apply loop owns it then).
    if (
      composed.applied > 0 &&
      this.#pending.get(id) === entry &&
      entry.base === base &&
      entry.deltas.length === deltas.length &&
      !this.#apply.isInFlight(id)
    ) {
      entry.base = composed.record!;
      entry.baseSegments.push(...entry.deltas.segments());
      entry.deltas = new DeltaChain(entry.bucketKey, entry.itemKey);
      this.#pending.resize(entry);
    }
    return composed.record;
  }
}
