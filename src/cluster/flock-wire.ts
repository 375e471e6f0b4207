/**
 * Pure helpers of the leadership bleets: listing entries to and from their
 * wire form, a listing cut into the pages a sync sends, the record that
 * purges a listed item, and the refusal of a stale term. No IO.
 */
import { GrexError } from '../errors.js';
import type { ItemRecord } from '../store/item-record.js';
import type { WireEntry } from './bleet-messages.js';
import type { ListingEntry } from './flock-listing.js';

const SYNC_PAGE_BUCKETS = 256;
const SYNC_PAGE_ENTRIES = 4096;

/** A record that removes a listed item wherever it is applied (forced). */
export function purgeOf(e: ListingEntry): ItemRecord {
  return { bucketKey: e.bucketKey, itemKey: e.itemKey, version: { term: e.term, seq: e.seq }, tombstone: false, encoding: 'raw', payload: new Uint8Array(0), purge: true };
}

export function toWire(e: ListingEntry): WireEntry {
  return [e.bucketKey, e.itemKey, e.term, e.seq, (e.tombstone ? 1 : 0) | (e.corrupt === true ? 2 : 0)];
}

export function fromWire([bucketKey, itemKey, term, seq, flags]: WireEntry): ListingEntry {
  const entry: ListingEntry = { bucketKey, itemKey, term, seq, tombstone: (flags & 1) !== 0 };
  if ((flags & 2) !== 0) entry.corrupt = true;
  return entry;
}

/**
 * A refusal for a newer term. `nothingStored`: refused before anything of the
 * request was stored (a claim, or a commit before its first write), which the
 * answer says (`stored: false`): the node that forwarded the request may run
 * it once more on the flock's next active node.
 */
export function staleTerm(flock: number, promised: number, what: string, nothingStored = false): GrexError {
  return new GrexError('GREX_ERR_STALE_TERM', `${what}: flock ${flock} has a newer term (${promised})`, {
    flock,
    promised,
    retryAfterSeconds: 1,
    ...(nothingStored ? { stored: false } : {}),
  });
}

/** Splits a sorted listing into pages of whole buckets; each page covers [from, to) of bucket keys. */
export function pageListing(listing: readonly ListingEntry[]): { from: string | null; to: string | null; entries: ListingEntry[] }[] {
  const pages: { from: string | null; to: string | null; entries: ListingEntry[] }[] = [];
  let current: ListingEntry[] = [];
  let buckets = 0;
  let lastBucket: string | null = null;
  for (const entry of listing) {
    if (entry.bucketKey !== lastBucket) {
      if (buckets >= SYNC_PAGE_BUCKETS || current.length >= SYNC_PAGE_ENTRIES) {
        pages.push({ from: null, to: entry.bucketKey, entries: current });
        current = [];
        buckets = 0;
      }
      buckets++;
      lastBucket = entry.bucketKey;
    }
    current.push(entry);
  }
  pages.push({ from: null, to: null, entries: current });
  // Each page starts where the previous one ends; the first starts at the beginning.
  for (let i = 1; i < pages.length; i++) pages[i]!.from = pages[i - 1]!.to;
  return pages;
}
