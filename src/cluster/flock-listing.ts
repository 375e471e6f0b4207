/**
 * Flock listings: what a herder holds of a flock (every item's version,
 * tombstones included), and the pure decisions made from them.
 *
 * - planMerge: a new active node merges the listings of the majority that
 *   promised it a term. Per item the highest version wins, tombstones
 *   included: every acknowledged write is on at least one member of any
 *   majority, so the merge holds every acknowledged write even when no single
 *   herder had them all.
 * - planSync: a herder is made identical to the active node. The active node
 *   is authoritative: items whose version differs are fetched from it, and
 *   items it does not have are removed, unless they were written under the
 *   current term (by the active node itself, after the listing was taken).
 *   So a write that only ever reached a crashed former active node is gone
 *   once that node catches up; it cannot come back by "newest wins".
 */
import { createHash } from 'node:crypto';
import { sortListing, type ListingEntry } from '../store/index.js';

export { compareEntryKeys, sortListing, type ListingEntry } from '../store/index.js';

export function compareEntryVersions(a: ListingEntry, b: ListingEntry): number {
  if (a.term !== b.term) return a.term < b.term ? -1 : 1;
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}

const entryId = (e: { bucketKey: string; itemKey: string }) => `${e.bucketKey}\0${e.itemKey}`;

function sameVersion(a: ListingEntry | undefined, b: ListingEntry | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.corrupt === true || b.corrupt === true) return false;
  return a.term === b.term && a.seq === b.seq && a.tombstone === b.tombstone;
}

/** A fingerprint of a (sorted) listing: equal digests, equal holdings. Corrupt copies never match. */
export function listingDigest(entries: readonly ListingEntry[]): string {
  const hash = createHash('sha256');
  for (const e of entries) {
    hash.update(`${e.bucketKey}\0${e.itemKey}\0${e.corrupt === true ? 'corrupt' : `${e.term}.${e.seq}.${e.tombstone ? 1 : 0}`}\n`);
  }
  return hash.digest('hex').slice(0, 32);
}

export interface MergePlan {
  /** The merged state: per item, the newest entry among the promisers. */
  merged: ListingEntry[];
  /** Per herder, the merged entries to fetch from it (the candidate does not hold them). */
  fetch: Map<string, ListingEntry[]>;
  /** The candidate's own entries to remove (writes only it ever held; see planMerge). */
  purge: ListingEntry[];
  /** Promisers whose listing already equals the merged state (they are in sync at once). */
  identical: Set<string>;
}

/**
 * Merges the listings of the herders that promised `selfId` a term (its own
 * included): per item the newest version, tombstones included.
 *
 * With `dropSelfOnly` (every herder of the flock promised, and a write needs
 * at least two of them), a version only the candidate holds was never
 * acknowledged: it is the write of a crashed former active node that reached
 * no one else, and it is dropped instead of coming back. Unless another
 * herder's copy of the item is damaged: that copy may have been the second
 * one of an acknowledged write, so the candidate's version is kept.
 */
export function planMerge(
  selfId: string,
  all: ReadonlyMap<string, readonly ListingEntry[]>,
  dropSelfOnly = false,
  bases: ReadonlyMap<string, number> = new Map(),
): MergePlan {
  const listings = withoutLeftovers(all, bases);
  const best = new Map<string, { entry: ListingEntry; holder: string }>();
  const bestOthers = new Map<string, { entry: ListingEntry; holder: string }>();
  const newer = (current: { entry: ListingEntry; holder: string } | undefined, entry: ListingEntry, nodeId: string) =>
    current === undefined ||
    compareEntryVersions(current.entry, entry) < 0 ||
    // On a tie prefer a copy the candidate already has.
    (compareEntryVersions(current.entry, entry) === 0 && nodeId === selfId);
  // Items another promiser holds a damaged copy of: that copy may be the acknowledged version.
  const damagedElsewhere = new Set<string>();
  for (const [nodeId, listing] of listings) {
    for (const entry of listing) {
      if (entry.corrupt === true) {
        if (nodeId !== selfId) damagedElsewhere.add(entryId(entry));
        continue;
      }
      const id = entryId(entry);
      if (newer(best.get(id), entry, nodeId)) best.set(id, { entry, holder: nodeId });
      if (nodeId !== selfId && newer(bestOthers.get(id), entry, nodeId)) bestOthers.set(id, { entry, holder: nodeId });
    }
  }
  const own = new Map((all.get(selfId) ?? []).map((e) => [entryId(e), e]));
  const purge: ListingEntry[] = [];
  if (dropSelfOnly) {
    // Items other promisers hold in any version, leftovers of a lower basis included.
    const heldElsewhere = new Set<string>();
    for (const [nodeId, listing] of all) if (nodeId !== selfId) for (const entry of listing) if (entry.corrupt !== true) heldElsewhere.add(entryId(entry));
    const selfHasHighestBasis = (bases.get(selfId) ?? 0) === highestBasis(all, bases);
    for (const [id, chosen] of [...best]) {
      if (chosen.holder !== selfId || damagedElsewhere.has(id)) continue;
      const other = bestOthers.get(id);
      if (other !== undefined && compareEntryVersions(other.entry, chosen.entry) >= 0) continue;
      if (other !== undefined) {
        best.set(id, other);
      } else if (!heldElsewhere.has(id) || !selfHasHighestBasis) {
        // No other copy has the item, or only copies of a lower basis than the highest (which
        // lacks it) do: their versions are leftovers, and before the lonely version it did not exist.
        best.delete(id);
        purge.push(chosen.entry);
      }
      // Else the others hold it only in versions older than the highest basis, which is the
      // candidate's: its copy is that basis's state, so its version is either that state's
      // (the others were never synced to it) or a later lonely write over it, and then which
      // older version was acknowledged it no longer tells. Kept: that loses nothing acknowledged.
    }
  }
  // The candidate's leftovers of older terms that no promiser's basis holds: never acknowledged.
  const purged = new Set(purge.map(entryId));
  for (const [id, entry] of own) if (entry.corrupt !== true && !best.has(id) && !purged.has(id)) purge.push(entry);
  const fetch = new Map<string, ListingEntry[]>();
  for (const [id, { entry, holder }] of best) {
    if (sameVersion(own.get(id), entry)) continue;
    let list = fetch.get(holder);
    if (list === undefined) fetch.set(holder, (list = []));
    list.push(entry);
  }
  const merged = sortListing([...best.values()].map((b) => b.entry));
  const identical = new Set<string>();
  for (const [nodeId, listing] of all) {
    if (listing.length !== merged.length) continue;
    const held = new Map(listing.map((e) => [entryId(e), e]));
    if (merged.every((e) => sameVersion(held.get(entryId(e)), e))) identical.add(nodeId);
  }
  return { merged, fetch, purge, identical };
}

/**
 * The listings a merge may choose from, given each promiser's basis (the
 * highest term whose active node's state its copy was made from: it won that
 * claim, or that active node promoted it). That active node's merge held every
 * write acknowledged before its term, and a copy made from it holds them still
 * (or newer versions). So a version of an older term that a copy with the
 * highest basis does not hold was never acknowledged — the leftover of an
 * active node cut off before that term — and is left out, whoever holds it.
 * Versions of that term or later are merged as usual. Damaged copies stay.
 */
function withoutLeftovers(
  listings: ReadonlyMap<string, readonly ListingEntry[]>,
  bases: ReadonlyMap<string, number>,
): ReadonlyMap<string, readonly ListingEntry[]> {
  const basis = highestBasis(listings, bases);
  if (basis === 0) return listings;
  const kept = new Map<string, readonly ListingEntry[]>();
  for (const [nodeId, listing] of listings) {
    kept.set(nodeId, (bases.get(nodeId) ?? 0) === basis ? listing : listing.filter((e) => e.corrupt === true || e.term >= basis));
  }
  return kept;
}

function highestBasis(listings: ReadonlyMap<string, unknown>, bases: ReadonlyMap<string, number>): number {
  let basis = 0;
  for (const nodeId of listings.keys()) basis = Math.max(basis, bases.get(nodeId) ?? 0);
  return basis;
}

export interface SyncPlan {
  /** Active-node entries the herder must fetch (it lacks them, or holds another version). */
  fetch: ListingEntry[];
  /** The herder's entries to remove: the active node does not have them and they predate its term. */
  purge: ListingEntry[];
}

/**
 * What a herder must do to match the active node's listing for one range of
 * buckets. `own` is the herder's listing of the same range; `term` is the
 * active node's term.
 */
export function planSync(active: readonly ListingEntry[], own: readonly ListingEntry[], term: number): SyncPlan {
  const mine = new Map(own.map((e) => [entryId(e), e]));
  const theirs = new Set<string>();
  const fetch: ListingEntry[] = [];
  for (const entry of active) {
    const id = entryId(entry);
    theirs.add(id);
    const held = mine.get(id);
    if (sameVersion(held, entry)) continue;
    // A copy written under the current term that is newer than the listing arrived by
    // replication after the listing was taken: keep it.
    if (held !== undefined && held.corrupt !== true && held.term >= term && compareEntryVersions(held, entry) > 0) continue;
    fetch.push(entry);
  }
  const purge = own.filter((e) => !theirs.has(entryId(e)) && (e.corrupt === true || e.term < term));
  return { fetch, purge };
}
