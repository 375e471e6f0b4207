/**
 * Listings of an ItemStore: a bucket's live items and everything a node
 * holds of a flock, the pending records (pending-items.ts) laid over what
 * the backend lists of the item files.
 */
import type { Backend } from './backend.js';
import type { GrexError } from '../errors.js';
import type { ItemHeader } from './item-record.js';
import type { ItemReads } from './item-reads.js';
import { sortListing, type ListingEntry } from './listing.js';
import { headerOf, itemId, pendingHeader, type PendingItems } from './pending-items.js';

export class ItemListings {
  readonly #backend: Backend;
  readonly #pending: PendingItems;
  readonly #reads: ItemReads;

  constructor(backend: Backend, pending: PendingItems, reads: ItemReads) {
    this.#backend = backend;
    this.#pending = pending;
    this.#reads = reads;
  }

  /** Headers of a bucket's live items, sorted by itemKey. */
  async listLive(flock: number, bucketKey: string): Promise<ItemHeader[]> {
    // Pending records first: one applied while the files are listed is then still seen.
    const pending: (ItemHeader | { itemKey: string; purged: true })[] = [];
    for (const itemKey of [...(this.#pending.bucketItems(flock, bucketKey) ?? [])]) {
      const id = itemId(flock, bucketKey, itemKey);
      const entry = this.#pending.get(id);
      if (entry === undefined) continue;
      // Sizes are the whole items': compose items with deltas.
      const header = entry.deltas.length === 0 ? pendingHeader(entry) : await this.#reads.compose(id, entry).then((r) => (r === undefined ? 'purged' : headerOf(r)));
      pending.push(header === 'purged' ? { itemKey, purged: true } : header);
    }
    const byKey = new Map<string, ItemHeader>();
    for (const header of await this.#backend.list(flock, bucketKey)) byKey.set(header.itemKey, header);
    for (const header of pending) {
      if ('purged' in header) byKey.delete(header.itemKey);
      else byKey.set(header.itemKey, header);
    }
    return [...byKey.values()]
      .filter((h) => !h.tombstone && h.corrupt !== true)
      .map(({ bucketKey: b, itemKey, version, tombstone, encoding, size }) => ({ bucketKey: b, itemKey, version, tombstone, encoding, size }))
      .sort((a, b) => (a.itemKey < b.itemKey ? -1 : a.itemKey > b.itemKey ? 1 : 0));
  }

  /**
   * Everything this node holds of a flock (tombstones included), sorted by
   * bucket and item; optionally only the buckets in [from, to). With `verify`,
   * every record is read whole and checked (`pace` is told the bytes read, so
   * a caller can limit the rate); damaged copies are listed as `corrupt`.
   */
  async listFlock(
    flock: number,
    options: { from?: string | null; to?: string | null; verify?: boolean; pace?: (bytes: number) => Promise<void> } = {},
  ): Promise<ListingEntry[]> {
    const inRange = (bucketKey: string) =>
      (options.from == null || bucketKey >= options.from) && (options.to == null || bucketKey < options.to);
    // Pending records first (see listLive), then the files. A pending record is the newer
    // state, except that a listing taken after it was written already shows it (same outcome).
    const pendingByBucket = new Map<string, (ItemHeader | { itemKey: string; purged: true })[]>();
    for (const entry of this.#pending.values()) {
      if (entry.flock !== flock || !inRange(entry.bucketKey)) continue;
      let list = pendingByBucket.get(entry.bucketKey);
      if (list === undefined) pendingByBucket.set(entry.bucketKey, (list = []));
      const header = pendingHeader(entry);
      list.push(header === 'purged' ? { itemKey: entry.itemKey, purged: true } : header);
    }
    const buckets = new Set<string>(pendingByBucket.keys());
    for await (const bucketKey of this.#backend.buckets(flock)) if (inRange(bucketKey)) buckets.add(bucketKey);
    const entries: ListingEntry[] = [];
    for (const bucketKey of buckets) {
      const byKey = new Map<string, ItemHeader>();
      for (const header of await this.#backend.list(flock, bucketKey)) {
        if (options.verify === true && header.corrupt !== true) {
          try {
            const record = await this.#backend.read(flock, bucketKey, header.itemKey);
            await options.pace?.(record?.payload.byteLength ?? 0);
          } catch (err) {
            if ((err as GrexError).code !== 'GREX_ERR_STORE_CORRUPT') throw err;
            byKey.set(header.itemKey, { ...header, corrupt: true });
            continue;
          }
        }
        byKey.set(header.itemKey, header);
      }
      for (const header of pendingByBucket.get(bucketKey) ?? []) {
        if ('purged' in header) byKey.delete(header.itemKey);
        else byKey.set(header.itemKey, header);
      }
      for (const h of byKey.values()) {
        const entry: ListingEntry = { bucketKey, itemKey: h.itemKey, term: h.version.term, seq: h.version.seq, tombstone: h.tombstone };
        if (h.corrupt === true) entry.corrupt = true;
        entries.push(entry);
      }
    }
    return sortListing(entries);
  }
}
