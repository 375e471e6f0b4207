/**
 * A flock listing: what a node holds of a flock, one entry per item
 * (tombstones included), sorted by bucket and item key.
 */

export interface ListingEntry {
  bucketKey: string;
  itemKey: string;
  term: number;
  seq: number;
  tombstone: boolean;
  /** The node's copy failed its checksum: it has no usable version. */
  corrupt?: boolean;
}

export function compareEntryKeys(a: { bucketKey: string; itemKey: string }, b: { bucketKey: string; itemKey: string }): number {
  if (a.bucketKey !== b.bucketKey) return a.bucketKey < b.bucketKey ? -1 : 1;
  if (a.itemKey !== b.itemKey) return a.itemKey < b.itemKey ? -1 : 1;
  return 0;
}

export function sortListing(entries: ListingEntry[]): ListingEntry[] {
  return entries.sort(compareEntryKeys);
}
