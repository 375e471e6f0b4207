/**
 * The store as the rest of Grex sees it: reads, listings and commits of item
 * records over a Backend, plus per-flock metadata.
 *
 * With a write-ahead log (the filesystem store), a commit is one log append:
 * all of a job's records together, fsynced once per batch of concurrent
 * commits (group commit). Once that resolves the commit is durable and
 * visible: its records wait in `pending` (served to reads) until the apply
 * loop has written them to their item files, without fsync. A checkpoint
 * later fsyncs those files in bulk and only then deletes the log segments
 * that held them. After a crash, `open` replays the remaining segments.
 *
 * So: a job's changes are stored all together or not at all, even when the
 * disk fails halfway; an item written many times between checkpoints is
 * fsynced once; and memory stays bounded (`pendingBytesMax`: commits wait
 * while that many bytes are not yet in item files).
 *
 * Deltas and coalescing (see docs/architecture-store.md). A commit may hold
 * deltas (item-delta.ts: values appended to a list item) instead of whole
 * items. The log holds them as they are; per item, `pending` keeps a chain:
 * the newest whole record not yet in its file (or none: the file holds the
 * base), and the deltas on top of it. An item is written to its file at most
 * once per `applyDelayMs` (sooner when pending memory grows or the store
 * closes): the apply loop composes base and deltas into the whole item once
 * and writes that. A read of an item with deltas composes it too, and keeps
 * the composed item as the chain's base, so the next read does not. Replay
 * folds the log the same way, over the item files, and arrives at the same
 * items: composing passes over deltas an item file already holds.
 *
 * Commits of one item must not overlap (the scheduler runs a bucket's jobs
 * one at a time, herders apply a flock's writes one at a time): a delta is
 * checked against the item's version as of its commit.
 *
 * Without a log (the memory backend), a commit writes the records directly,
 * deltas composed at once.
 */
import { crc32 } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import { GrexError } from '../errors.js';
import type { Backend, FsyncPolicy, ItemRef } from './backend.js';
import { DeltaChain } from './delta-chain.js';
import { composeItem, deltaFit, type DeltaFit } from './item-delta.js';
import type { ItemHeader, ItemRecord } from './item-record.js';
import { compareVersions, formatVersion, NO_VERSION, type Version } from './version.js';
import { sortListing, type ListingEntry } from './listing.js';
import { encodeWalCommitParts } from './wal-record.js';
import { WriteAheadLog } from './write-ahead-log.js';
import type { StoreUsage } from './usage-tally.js';

/** What a node keeps per flock across restarts. */
export interface FlockMeta {
  /** Highest leadership term this node used or promised for the flock. */
  term: number;
  /** Sequence numbers below this may have been used; a restart continues from here. */
  seqReserved: number;
  /** This node herds the flock (holds it and counts toward its quorums); absent: false. */
  herding?: boolean;
  /**
   * The highest term whose active node's state this node's copy was made from (it won that
   * term's claim, or was promoted by that term's active node); absent: 0. See claim-round.ts.
   */
  basis?: number;
}

export interface ItemStoreOptions {
  /** Keep a write-ahead log in this folder (the filesystem store does). */
  wal?: { dir: string; fsync: FsyncPolicy; segmentBytes?: number };
  /** Memory of committed records not yet in item files before new commits wait (default 64 MiB; see heldBytes and DeltaChain.heldBytes). */
  pendingBytesMax?: number;
  /**
   * Item files written since the last checkpoint (not yet fsynced; the log
   * must keep their records) before a checkpoint is started early, at the
   * end of a shorter log segment (default 8192). At twice as many, new
   * commits wait for that checkpoint: the backlog, its memory and the log
   * on disk stay bounded when checkpoints fall behind the writes.
   */
  unsyncedMax?: number;
  /**
   * How long a committed item may wait before it is written to its file
   * (default 1000 ms): writes of a hot item in that time cost one file write.
   * A quarter of `pendingBytesMax` waiting makes the store write at once.
   */
  applyDelayMs?: number;
  /** Errors of background work (applying, checkpoints); they are retried. */
  onError?: (err: Error) => void;
}

export interface OpenReport {
  /** Commits found in the log at open (left by a crash) and applied. */
  replayedCommits: number;
  /** Log segments that ended in a torn, never acknowledged append. */
  tornSegments: number;
}

export interface CommitOptions {
  /** Each record replaces whatever is there, even a newer version (the active node repairing a herder). */
  force?: boolean;
  /**
   * Deltas whose base is not the item's version are left out and returned,
   * the rest is committed (a herder taking replicated writes). Without it,
   * such a delta fails the whole commit (GREX_ERR_INTERNAL: the active node
   * makes deltas on the version it holds, in the bucket's turn, so this is a bug).
   */
  partial?: boolean;
}

/** An item's committed records not yet in its file. */
interface PendingItem {
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

const APPLY_BATCH = 16;
/** Item files written at once when nothing is urgent, so the log's own I/O rarely waits for a thread of libuv's pool. */
const APPLY_BATCH_CALM = 4;
/** Headers of item files this store wrote last, remembered (see #written). */
const WRITTEN_HEADERS_MAX = 16_384;
const APPLY_RETRY_MS = 1000;
/** Share of pendingBytesMax kept as bodies of written items (#bodies). */
const WRITTEN_BODIES_SHARE = 1 / 4;
export const DEFAULT_PENDING_BYTES_MAX = 64 * 1024 * 1024;
export const DEFAULT_APPLY_DELAY_MS = 1000;
export const DEFAULT_UNSYNCED_MAX = 8192;
/** Memory a pending record takes besides its payload (objects, views), counted toward pendingBytesMax. */
const RECORD_OVERHEAD_BYTES = 256;
const heldBytes = (record: ItemRecord) => record.payload.byteLength + RECORD_OVERHEAD_BYTES;

// NUL never occurs in keys: it separates the parts unambiguously.
const itemId = (flock: number, bucketKey: string, itemKey: string) => `${flock}\0${bucketKey}\0${itemKey}`;
const bucketId = (flock: number, bucketKey: string) => `${flock}\0${bucketKey}`;

function headerOf(record: ItemRecord): ItemHeader {
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
function stateVersion(entry: PendingItem): Version {
  const last = entry.deltas.lastVersion();
  if (last !== undefined) return last;
  return entry.base!.purge === true ? NO_VERSION : entry.base!.version;
}

/** The version of the newest record of an entry (a purge's own), for ordering whole records. */
function tipVersion(entry: PendingItem): Version {
  return entry.deltas.lastVersion() ?? entry.base!.version;
}

/** What a listing shows of a pending item: a header, or 'purged'. */
function pendingHeader(entry: PendingItem): ItemHeader | 'purged' {
  const last = entry.deltas.lastVersion();
  if (last === undefined) return entry.base!.purge === true ? 'purged' : headerOf(entry.base!);
  return { bucketKey: entry.bucketKey, itemKey: entry.itemKey, version: last, tombstone: false, encoding: 'msgpack', size: sizeEstimate(entry) };
}

/** The item's size with its deltas, counting appended bytes and not what `keep` drops: an upper bound. */
function sizeEstimate(entry: PendingItem): number {
  const base = entry.base === null ? entry.fileSize : entry.base.purge === true || entry.base.tombstone ? 0 : entry.base.payload.byteLength;
  return base + entry.deltas.byteLength;
}

function itemChanged(record: ItemRecord, fit: DeltaFit, current: Version): GrexError {
  return new GrexError(
    'GREX_ERR_INTERNAL',
    `item ${JSON.stringify(record.itemKey)} is at version ${formatVersion(current)}: the append (${formatVersion(record.version)}) ${fit === 'held' ? 'is already stored' : 'was made on another version'}`,
    { itemKey: record.itemKey, version: formatVersion(current) },
  );
}

/** Items a replay reads, composes and writes at once. */
const REPLAY_ITEMS_AT_ONCE = 8;

export class ItemStore {
  readonly backend: Backend;
  readonly #wal: WriteAheadLog | null;
  readonly #pendingBytesMax: number;
  readonly #unsyncedMax: number;
  readonly #applyDelayMs: number;
  readonly #onError: (err: Error) => void;
  /** Committed records not yet written to their item files, by item. */
  readonly #pending = new Map<string, PendingItem>();
  /** itemKeys of pending records, by bucket (for listings). */
  readonly #pendingBuckets = new Map<string, Set<string>>();
  #pendingBytes = 0;
  /** Items with records to write, oldest first (an item keeps its place until written). */
  readonly #toApply = new Set<string>();
  readonly #inFlight = new Set<string>();
  #applying = false;
  #draining = false;
  #applyTimer: NodeJS.Timeout | null = null;
  #applyTimerAt = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  readonly #toApplyLater = new Set<string>();
  /** Pending records per log segment: a segment can go once its count is zero. */
  readonly #outstanding = new Map<number, number>();
  /** Items written to files since the last checkpoint. */
  #unsynced = new Map<string, ItemRef>();
  #checkpointing: Promise<void> | null = null;
  /** A segment closed early because the backlog of unsynced item files is large (see unsyncedMax). */
  #rotating: Promise<void> | null = null;
  #removedThrough = 0;
  #spaceWaiters: (() => void)[] = [];
  /** Commits waiting for a checkpoint to shrink the unsynced backlog. */
  #syncWaiters: (() => void)[] = [];
  #closing = false;
  #drainWaiters: (() => void)[] = [];
  /**
   * Headers of item files with nothing pending, as this store last wrote or
   * read them ('absent': no file), so that the version a delta must build on
   * is known without reading the file: a hot item goes from pending to its
   * file and back every apply delay. The apply loop sets what it wrote; a
   * read sets what it found only if nothing was pending or written meanwhile.
   * Read only when nothing is pending.
   */
  readonly #written = new LRUCache<string, ItemHeader | 'absent'>({ max: WRITTEN_HEADERS_MAX });
  /**
   * Whole records the apply loop composed and wrote lately (bounded in bytes):
   * the next deltas of a hot item build on this instead of reading its file
   * back. Valid only while #written names the same version (see #fileBody).
   */
  readonly #bodies: LRUCache<string, ItemRecord> | null;
  /** Item files written or removed by the apply loop so far (see #remember). */
  #applies = 0;

  constructor(backend: Backend, options: ItemStoreOptions = {}) {
    this.backend = backend;
    this.#wal = options.wal === undefined ? null : new WriteAheadLog(options.wal);
    this.#pendingBytesMax = options.pendingBytesMax ?? DEFAULT_PENDING_BYTES_MAX;
    this.#unsyncedMax = options.unsyncedMax ?? DEFAULT_UNSYNCED_MAX;
    this.#applyDelayMs = options.applyDelayMs ?? DEFAULT_APPLY_DELAY_MS;
    this.#onError = options.onError ?? (() => {});
    const bodiesBytes = Math.floor(this.#pendingBytesMax * WRITTEN_BODIES_SHARE);
    this.#bodies = bodiesBytes < 64 * 1024 ? null : new LRUCache<string, ItemRecord>({ maxSize: bodiesBytes, sizeCalculation: heldBytes });
  }

  /** Opens the backend and, if there is a log, replays what a crash left in it. */
  async open(): Promise<OpenReport> {
    await this.backend.open();
    const report: OpenReport = { replayedCommits: 0, tornSegments: 0 };
    if (this.#wal === null) return report;
    try {
      let lastSegment = 0;
      // Per item, in log order: the last whole record (null: the item file) and the deltas after it.
      // Commits of one item are logged in the order they were made (repairs by the active node may
      // go backwards in version: a whole record always replaces what is there).
      const items = new Map<string, { flock: number; base: ItemRecord | null; deltas: ItemRecord[] }>();
      for await (const segment of this.#wal.replay()) {
        lastSegment = segment.id;
        if (segment.tornAt !== undefined) report.tornSegments++;
        for (const commit of segment.commits) {
          report.replayedCommits++;
          for (const record of commit.records) {
            const id = itemId(commit.flock, record.bucketKey, record.itemKey);
            if (record.delta === true) {
              let item = items.get(id);
              if (item === undefined) items.set(id, (item = { flock: commit.flock, base: null, deltas: [] }));
              item.deltas.push(record);
            } else {
              items.set(id, { flock: commit.flock, base: record, deltas: [] });
            }
          }
        }
      }
      const written: ItemRef[] = [];
      const replayItem = async ({ flock, base, deltas }: { flock: number; base: ItemRecord | null; deltas: ItemRecord[] }): Promise<void> => {
        const { bucketKey, itemKey } = base ?? deltas[0]!;
        let state: ItemRecord | null | 'purge' = base?.purge === true ? 'purge' : base;
        if (deltas.length > 0) {
          let start: ItemRecord | undefined;
          try {
            start = base === null ? await this.backend.read(flock, bucketKey, itemKey) : state === 'purge' ? undefined : (state ?? undefined);
          } catch (err) {
            // A damaged file cannot take its deltas: it stays as it is, reads report it and repair replaces it.
            if ((err as GrexError).code !== 'GREX_ERR_STORE_CORRUPT') throw err;
            this.#onError(err as Error);
            return;
          }
          const composed = composeItem(start, deltas);
          if (composed.applied > 0) state = composed.record!;
        }
        if (state === null) return; // only deltas the file already holds
        if (state === 'purge') await this.backend.remove(flock, bucketKey, itemKey);
        else await this.backend.write(flock, [state], { durable: false });
        written.push({ flock, bucketKey, itemKey });
      };
      // Items are independent: several at once, so reading one file overlaps composing another.
      const queue = items.values();
      let failure: { err: unknown } | null = null;
      const worker = async () => {
        for (let next = queue.next(); failure === null && next.done !== true; next = queue.next()) {
          await replayItem(next.value).catch((err: unknown) => {
            failure ??= { err };
          });
        }
      };
      await Promise.all(Array.from({ length: REPLAY_ITEMS_AT_ONCE }, worker));
      if (failure !== null) throw (failure as { err: unknown }).err;
      await this.backend.sync(written);
      await this.#wal.start();
      await this.#wal.removeThrough(lastSegment);
      this.#removedThrough = lastSegment;
    } catch (err) {
      await this.backend.close().catch(() => {});
      throw err;
    }
    return report;
  }

  /** Writes every pending record, checkpoints, and closes the log and the backend. */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#wal !== null) {
      await this.#drain();
      if (this.#pending.size === 0) {
        try {
          const through = await this.#wal.rotate();
          await this.#checkpoint(through);
        } catch (err) {
          this.#onError(err as Error); // the log stays and is replayed at the next open
        }
      }
      if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
      if (this.#applyTimer !== null) clearTimeout(this.#applyTimer);
      await this.#wal.close();
      // Commits still waiting for a checkpoint go on to fail on the closed log.
      for (const wake of this.#syncWaiters.splice(0)) wake();
      // An empty log is nothing to replay: leave no segment behind after a clean stop.
      if (this.#pending.size === 0) await this.#wal.removeThrough(Number.MAX_SAFE_INTEGER, true).catch(() => {});
    }
    await this.backend.close();
  }

  /** An item's record, tombstones included (deltas composed in: always the whole item). */
  async read(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    const id = itemId(flock, bucketKey, itemKey);
    const entry = this.#pending.get(id);
    if (entry === undefined) return this.#fileBody(id) ?? this.backend.read(flock, bucketKey, itemKey);
    if (entry.deltas.length === 0) return entry.base!.purge === true ? undefined : entry.base!;
    return this.#compose(id, entry);
  }

  /** An item's record, or undefined when it is absent or deleted. */
  async readLive(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    const record = await this.read(flock, bucketKey, itemKey);
    return record === undefined || record.tombstone ? undefined : record;
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
    const written = this.#written.get(id);
    if (written !== undefined) return written === 'absent' ? undefined : written;
    const applies = this.#applies;
    const record = await this.backend.read(flock, bucketKey, itemKey);
    const header = record === undefined ? undefined : headerOf(record);
    this.#remember(id, header, applies);
    return header;
  }

  /**
   * Remembers a header just read from an item file, unless the item has
   * records pending or the apply loop wrote any file during the read (the
   * read may be older than what it wrote).
   */
  #remember(id: string, header: ItemHeader | undefined, appliesBefore: number): void {
    if (this.#wal === null || this.#applies !== appliesBefore || this.#pending.has(id) || this.#written.has(id)) return;
    this.#written.set(id, header ?? 'absent');
  }

  /** The whole item of a pending entry with deltas; the composed item then replaces them in the entry. */
  async #compose(id: string, entry: PendingItem): Promise<ItemRecord | undefined> {
    const base = entry.base;
    const deltas = entry.deltas.records();
    const start = base === null ? (this.#fileBody(id) ?? (await this.backend.read(entry.flock, entry.bucketKey, entry.itemKey))) : base.purge === true ? undefined : base;
    const composed = composeItem(start, deltas);
    // Fold it in, unless the entry changed meanwhile or its file is being written (the apply loop owns it then).
    if (
      composed.applied > 0 &&
      this.#pending.get(id) === entry &&
      entry.base === base &&
      entry.deltas.length === deltas.length &&
      !this.#inFlight.has(id)
    ) {
      entry.base = composed.record!;
      entry.baseSegments.push(...entry.deltas.segments());
      entry.deltas = new DeltaChain(entry.bucketKey, entry.itemKey);
      this.#resize(entry);
    }
    return composed.record;
  }

  /** The record in an item's file, if the apply loop wrote it lately and still remembers it. */
  #fileBody(id: string): ItemRecord | undefined {
    const body = this.#bodies?.get(id);
    if (body === undefined) return undefined;
    const written = this.#written.get(id);
    if (written === undefined || written === 'absent' || compareVersions(written.version, body.version) !== 0) {
      this.#bodies!.delete(id);
      return undefined;
    }
    return body;
  }

  #resize(entry: PendingItem): void {
    const bytes = entry.deltas.heldBytes + (entry.base === null ? 0 : heldBytes(entry.base));
    this.#pendingBytes += bytes - entry.bytes;
    entry.bytes = bytes;
    this.#wakeSpaceWaiters();
  }

  /** Headers of a bucket's live items, sorted by itemKey. */
  async listLive(flock: number, bucketKey: string): Promise<ItemHeader[]> {
    // Pending records first: one applied while the files are listed is then still seen.
    const pending: (ItemHeader | { itemKey: string; purged: true })[] = [];
    for (const itemKey of [...(this.#pendingBuckets.get(bucketId(flock, bucketKey)) ?? [])]) {
      const id = itemId(flock, bucketKey, itemKey);
      const entry = this.#pending.get(id);
      if (entry === undefined) continue;
      // Sizes are the whole items': compose items with deltas.
      const header = entry.deltas.length === 0 ? pendingHeader(entry) : await this.#compose(id, entry).then((r) => (r === undefined ? 'purged' : headerOf(r)));
      pending.push(header === 'purged' ? { itemKey, purged: true } : header);
    }
    const byKey = new Map<string, ItemHeader>();
    for (const header of await this.backend.list(flock, bucketKey)) byKey.set(header.itemKey, header);
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
    for await (const bucketKey of this.backend.buckets(flock)) if (inRange(bucketKey)) buckets.add(bucketKey);
    const entries: ListingEntry[] = [];
    for (const bucketKey of buckets) {
      const byKey = new Map<string, ItemHeader>();
      for (const header of await this.backend.list(flock, bucketKey)) {
        if (options.verify === true && header.corrupt !== true) {
          try {
            const record = await this.backend.read(flock, bucketKey, header.itemKey);
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

  /**
   * Makes a flock's records durable together (per the fsync policy); resolves
   * only when they are. With `force`, each record replaces whatever is there,
   * even a newer version (the active node repairing a herder); purge records
   * remove their item. A delta record applies on top of the item's current
   * version only if that is its base (see CommitOptions.partial); resolves
   * with the deltas left out (none without `partial`).
   */
  async commit(flock: number, records: readonly ItemRecord[], options: CommitOptions = {}): Promise<ItemRecord[]> {
    if (this.#wal === null) return this.#commitDirect(flock, records, options);
    while (this.#pendingBytes > this.#pendingBytesMax || (this.#unsynced.size >= 2 * this.#unsyncedMax && !this.#closing)) {
      if (this.#pendingBytes > this.#pendingBytesMax) await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve));
      else {
        await new Promise<void>((resolve) => {
          this.#syncWaiters.push(resolve);
          // The checkpoint waits for the records of its segments to be in their files: write them now.
          this.#startApplying();
          this.#closeSegmentEarly();
        });
      }
    }
    const left = await this.#fitDeltas(flock, records, options);
    if (options.force !== true) {
      // An older version than one already pending would lose live but win at replay (log order): leave it out.
      records = records.filter((r) => {
        if (r.delta === true) return true;
        const pending = this.#pending.get(itemId(flock, r.bucketKey, r.itemKey));
        return pending === undefined || compareVersions(tipVersion(pending), r.version) <= 0;
      });
    }
    if (left.skipped.length > 0) records = records.filter((r) => !left.skipped.includes(r));
    if (records.length === 0) return left.skipped;
    const segment = await this.#wal.append(encodeWalCommitParts(flock, records));
    for (const record of records) {
      if (!this.#addPending(flock, record, segment, options.force === true, left.fileSizes)) left.skipped.push(record);
    }
    this.#startApplying();
    if (left.skipped.length > 0 && options.partial !== true) {
      // Only when commits of one item overlapped (see the module comment): the rest is stored.
      const record = left.skipped[0]!;
      throw new GrexError('GREX_ERR_INTERNAL', `item ${JSON.stringify(record.itemKey)} changed while the append (${formatVersion(record.version)}) was being stored`, {
        itemKey: record.itemKey,
      });
    }
    return left.skipped;
  }

  /**
   * Which deltas of a commit do not apply to their item as it stands (from
   * pending records, else its file). Without `partial`, one that does not
   * fails the commit before anything is written.
   */
  async #fitDeltas(
    flock: number,
    records: readonly ItemRecord[],
    options: CommitOptions,
  ): Promise<{ skipped: ItemRecord[]; fileSizes: Map<string, number> }> {
    const skipped: ItemRecord[] = [];
    const fileSizes = new Map<string, number>();
    /** Versions of items each record of this commit leaves, for deltas after it in the same commit. */
    const within = new Map<string, Version>();
    for (const record of records) {
      const id = itemId(flock, record.bucketKey, record.itemKey);
      if (record.delta !== true) {
        within.set(id, record.purge === true ? NO_VERSION : record.version);
        continue;
      }
      let current = within.get(id);
      if (current === undefined) {
        const entry = this.#pending.get(id);
        const written = this.#written.get(id);
        if (entry !== undefined) current = stateVersion(entry);
        else if (written !== undefined) {
          current = written === 'absent' ? NO_VERSION : written.version;
          if (written !== 'absent') fileSizes.set(id, written.size);
        } else {
          const applies = this.#applies;
          const file = await this.backend.read(flock, record.bucketKey, record.itemKey).catch((err: GrexError) => {
            if (err.code === 'GREX_ERR_STORE_CORRUPT' && options.partial === true) return null;
            throw err;
          });
          // A damaged file takes no deltas: the whole item must come instead.
          if (file === null) {
            skipped.push(record);
            continue;
          }
          const entryNow = this.#pending.get(id);
          current = entryNow !== undefined ? stateVersion(entryNow) : (file?.version ?? NO_VERSION);
          if (file !== undefined) fileSizes.set(id, file.payload.byteLength);
          this.#remember(id, file === undefined ? undefined : headerOf(file), applies);
        }
      }
      const fit = deltaFit(current, record);
      if (fit !== 'applies') {
        if (options.partial !== true) throw itemChanged(record, fit, current);
        skipped.push(record);
        continue;
      }
      within.set(id, record.version);
    }
    return { skipped, fileSizes };
  }

  /** Commits without a log: deltas are composed on the stored items now. */
  async #commitDirect(flock: number, records: readonly ItemRecord[], options: CommitOptions): Promise<ItemRecord[]> {
    const states = new Map<string, { ref: ItemRecord; state: ItemRecord | undefined; remove: boolean }>();
    const skipped: ItemRecord[] = [];
    for (const record of records) {
      const id = itemId(flock, record.bucketKey, record.itemKey);
      if (record.delta !== true) {
        states.set(id, { ref: record, state: record.purge === true ? undefined : record, remove: record.purge === true });
        continue;
      }
      const current = states.has(id) ? states.get(id)!.state : await this.backend.read(flock, record.bucketKey, record.itemKey);
      const fit = deltaFit(current?.version ?? NO_VERSION, record);
      if (fit !== 'applies') {
        if (options.partial !== true) throw itemChanged(record, fit, current?.version ?? NO_VERSION);
        skipped.push(record);
        continue;
      }
      states.set(id, { ref: record, state: composeItem(current, [record]).record, remove: false });
    }
    const writes: ItemRecord[] = [];
    for (const { ref, state, remove } of states.values()) {
      if (remove) await this.backend.remove(flock, ref.bucketKey, ref.itemKey);
      else if (state !== undefined) writes.push(state);
    }
    if (writes.length > 0) await this.backend.write(flock, writes);
    return skipped;
  }

  /** Adds a logged record to its item's chain; false for a delta that no longer fits it (left out). */
  #addPending(flock: number, record: ItemRecord, segment: number, force: boolean, fileSizes: Map<string, number>): boolean {
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
        this.#dropPending(id, entry);
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
    this.#toApply.add(id);
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

  #dropPending(id: string, entry: PendingItem): void {
    this.#pending.delete(id);
    const bucket = bucketId(entry.flock, entry.bucketKey);
    const items = this.#pendingBuckets.get(bucket);
    items?.delete(entry.itemKey);
    if (items?.size === 0) this.#pendingBuckets.delete(bucket);
    this.#pendingBytes -= entry.bytes;
    this.#release(entry.baseSegments);
    this.#release(entry.deltas.segments());
    this.#wakeSpaceWaiters();
  }

  /** The records counted in these segments are in their files now (or replaced by newer ones). */
  #release(segments: readonly number[]): void {
    for (const segment of segments) {
      const left = (this.#outstanding.get(segment) ?? 1) - 1;
      if (left === 0) this.#outstanding.delete(segment);
      else this.#outstanding.set(segment, left);
    }
  }

  #wakeSpaceWaiters(): void {
    if (this.#pendingBytes <= this.#pendingBytesMax) for (const wake of this.#spaceWaiters.splice(0)) wake();
  }

  /** Write at once rather than wait: a quarter of the pending memory is used, a commit waits for space, or the store closes. */
  #urgent(): boolean {
    return (
      this.#draining ||
      this.#applyDelayMs <= 0 ||
      this.#spaceWaiters.length > 0 ||
      this.#syncWaiters.length > 0 ||
      this.#pendingBytes > this.#pendingBytesMax / 4
    );
  }

  #startApplying(): void {
    if (this.#applying) return;
    if (this.#applyTimer !== null && !this.#urgent()) return; // the timer starts it
    void this.#applyLoop();
  }

  /** Starts the apply loop in `ms` (or sooner, if already asked to). */
  #applyLater(ms: number): void {
    const at = Date.now() + ms;
    if (this.#applyTimer !== null) {
      if (this.#applyTimerAt <= at) return;
      clearTimeout(this.#applyTimer);
    }
    this.#applyTimerAt = at;
    this.#applyTimer = setTimeout(() => {
      this.#applyTimer = null;
      this.#startApplying();
    }, ms);
    this.#applyTimer.unref();
  }

  async #applyLoop(): Promise<void> {
    this.#applying = true;
    if (this.#applyTimer !== null) {
      clearTimeout(this.#applyTimer);
      this.#applyTimer = null;
    }
    let waitMs = -1;
    while (this.#toApply.size > 0) {
      const now = Date.now();
      const urgent = this.#urgent();
      const batch: string[] = [];
      waitMs = -1;
      for (const id of this.#toApply) {
        if (this.#inFlight.has(id)) continue;
        const entry = this.#pending.get(id);
        if (entry === undefined) {
          this.#toApply.delete(id);
          continue;
        }
        // Items are in the order they started waiting: the first not yet due ends the batch.
        if (!urgent && entry.since + this.#applyDelayMs > now) {
          waitMs = entry.since + this.#applyDelayMs - now;
          break;
        }
        batch.push(id);
        if (batch.length === (urgent ? APPLY_BATCH : APPLY_BATCH_CALM)) break;
      }
      if (batch.length === 0) break;
      for (const id of batch) this.#toApply.delete(id);
      await Promise.all(batch.map((id) => this.#applyOne(id)));
    }
    this.#applying = false;
    if (waitMs >= 0) this.#applyLater(waitMs);
    this.#maybeCheckpoint();
    if (this.#toApply.size === 0 && this.#inFlight.size === 0) for (const wake of this.#drainWaiters.splice(0)) wake();
  }

  /** Writes an item's pending state to its file: its newest whole record, or that composed with its deltas. */
  async #applyOne(id: string): Promise<void> {
    const entry = this.#pending.get(id);
    if (entry === undefined) return;
    this.#inFlight.add(id);
    const { flock, bucketKey, itemKey, base } = entry;
    const count = entry.deltas.length;
    // What the file holds now, if this store wrote it lately (the backend need not look).
    const written = this.#written.get(id);
    let replacedBytes = written === undefined ? undefined : written === 'absent' ? null : written.size;
    try {
      let target: ItemRecord | 'remove' | 'none';
      let headerOfFile: ItemHeader | 'absent' = 'absent';
      if (count === 0) {
        target = base!.purge === true ? 'remove' : base!;
      } else {
        let start: ItemRecord | undefined;
        if (base === null) {
          try {
            start = this.#fileBody(id) ?? (await this.backend.read(flock, bucketKey, itemKey));
          } catch (err) {
            if ((err as GrexError).code !== 'GREX_ERR_STORE_CORRUPT') throw err;
            // The file the deltas build on is damaged: they cannot be composed here. The item
            // reads as damaged (not as an older version), so repair replaces it from the herders.
            this.#onError(err as Error);
            this.#written.delete(id);
            if (this.#pending.get(id) === entry && entry.base === null) this.#dropPending(id, entry);
            return;
          }
          if (start !== undefined) headerOfFile = headerOf(start);
          replacedBytes = start === undefined ? null : start.payload.byteLength;
        } else if (base.purge !== true) {
          start = base;
        }
        const composed = composeItem(start, entry.deltas.records(count));
        if (composed.applied > 0) target = composed.record!;
        else target = base === null ? 'none' : base.purge === true ? 'remove' : base;
      }
      if (target === 'remove') await this.backend.remove(flock, bucketKey, itemKey);
      else if (target !== 'none') await this.backend.write(flock, [target], { durable: false, replacing: [replacedBytes] });
      this.#unsynced.set(id, { flock, bucketKey, itemKey });
      if (this.#unsynced.size >= this.#unsyncedMax) this.#closeSegmentEarly();
      this.#written.set(id, target === 'remove' ? 'absent' : target === 'none' ? headerOfFile : headerOf(target));
      // Keep a record the deltas were composed into (a buffer of its own, not a view that would
      // hold a larger one) for the next deltas.
      if (typeof target === 'object' && count > 0 && !target.tombstone && target.payload.byteLength === target.payload.buffer.byteLength) this.#bodies?.set(id, target);
      else this.#bodies?.delete(id);
      this.#applies++;
      // Newer records may have come meanwhile: they stay pending and are written next time.
      if (this.#pending.get(id) !== entry) return;
      if (entry.deltas.length === count) {
        this.#dropPending(id, entry);
        return;
      }
      this.#release(entry.baseSegments);
      this.#release(entry.deltas.segments(count));
      entry.base = null;
      entry.baseSegments = [];
      entry.deltas.dropFirst(count);
      if (typeof target === 'object') entry.fileSize = target.payload.byteLength;
      entry.since = Date.now();
      this.#resize(entry);
      // To the back of the line with its new time, so the line stays in order of waiting.
      this.#toApply.delete(id);
      this.#toApply.add(id);
    } catch (err) {
      // The records stay pending (reads still see them) and in the log; try again later.
      this.#onError(err as Error);
      this.#retryLater(id);
    } finally {
      this.#inFlight.delete(id);
      // A newer record of this item came while it was being written (the loop skipped it as in
      // flight): make sure a run picks it up when it is due, not only at the next commit.
      const next = this.#pending.get(id);
      if (next !== undefined && next !== entry && this.#toApply.has(id)) this.#applyLater(Math.max(0, next.since + this.#applyDelayMs - Date.now()));
    }
  }

  #retryLater(id: string): void {
    this.#toApplyLater.add(id);
    if (this.#retryTimer !== null) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      for (const later of this.#toApplyLater) this.#toApply.add(later);
      this.#toApplyLater.clear();
      this.#startApplying();
    }, APPLY_RETRY_MS);
    this.#retryTimer.unref();
  }

  /** Resolves once every pending record is in its file, or when applying fails and waits for a retry. */
  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while ((this.#toApply.size > 0 || this.#inFlight.size > 0 || this.#applying) && this.#toApplyLater.size === 0) {
        await new Promise<void>((resolve) => {
          this.#drainWaiters.push(resolve);
          this.#startApplying();
        });
      }
      if (this.#checkpointing !== null) await this.#checkpointing;
    } finally {
      this.#draining = false;
    }
  }

  /**
   * Closes the log's current segment so that a checkpoint can sync the
   * backlog of item files now instead of when the segment fills up. Not
   * while a checkpoint runs: it is the one that syncs them.
   */
  #closeSegmentEarly(): void {
    if (this.#wal === null || this.#rotating !== null || this.#checkpointing !== null || this.#draining) return;
    if (this.#wal.currentSegment - 1 > this.#removedThrough) return; // a closed segment waits for its checkpoint already
    this.#rotating = this.#wal
      .rotate()
      .then(
        () => {},
        (err: unknown) => this.#onError(err as Error),
      )
      .finally(() => {
        this.#rotating = null;
        if (this.#syncWaiters.length > 0) this.#startApplying();
        this.#maybeCheckpoint();
      });
  }

  #wakeSyncWaiters(): void {
    if (this.#unsynced.size < 2 * this.#unsyncedMax) for (const wake of this.#syncWaiters.splice(0)) wake();
  }

  /** Checkpoints the closed segments once every record they hold is in its item file. */
  #maybeCheckpoint(): void {
    if (this.#wal === null || this.#checkpointing !== null || (this.#closing && !this.#draining)) return;
    const closedThrough = this.#wal.currentSegment - 1;
    if (closedThrough <= this.#removedThrough) return;
    for (const segment of this.#outstanding.keys()) if (segment <= closedThrough) return;
    this.#checkpointing = this.#checkpoint(closedThrough)
      .catch((err: unknown) => {
        this.#onError(err as Error);
        // Nothing else may come to try again (commits can be waiting for this one).
        setTimeout(() => this.#maybeCheckpoint(), APPLY_RETRY_MS).unref();
      })
      .finally(() => {
        this.#checkpointing = null;
        this.#wakeSyncWaiters();
        // Written meanwhile, the next backlog may already be due.
        if (this.#unsynced.size >= this.#unsyncedMax) this.#closeSegmentEarly();
      });
  }

  async #checkpoint(through: number): Promise<void> {
    const refs = this.#unsynced;
    this.#unsynced = new Map();
    try {
      await this.backend.sync([...refs.values()]);
      await this.#wal!.removeThrough(through);
      this.#removedThrough = Math.max(this.#removedThrough, through);
      this.#wakeSyncWaiters();
    } catch (err) {
      for (const [id, ref] of refs) if (!this.#unsynced.has(id)) this.#unsynced.set(id, ref);
      throw err;
    }
  }

  /** Memory of committed records not yet in item files (payloads plus a per-record overhead). */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Item files written since the last checkpoint, not yet fsynced (see unsyncedMax). */
  get unsyncedCount(): number {
    return this.#unsynced.size;
  }

  /** Item records in the backend and their bytes (records still pending count once applied). */
  usage(): StoreUsage {
    return this.backend.usage?.() ?? { items: 0, bytes: 0, counted: false };
  }

  async readFlockMeta(flock: number): Promise<FlockMeta | undefined> {
    const bytes = await this.backend.readFlockMeta(flock);
    return bytes === undefined ? undefined : decodeFlockMeta(bytes, flock);
  }

  writeFlockMeta(flock: number, meta: FlockMeta): Promise<void> {
    return this.backend.writeFlockMeta(flock, encodeFlockMeta(meta));
  }
}

// Flock metadata: one line of JSON, then the CRC-32 of that line in hex.
function encodeFlockMeta(meta: FlockMeta): Uint8Array {
  const line = JSON.stringify({
    term: meta.term,
    seqReserved: meta.seqReserved,
    ...(meta.herding === true ? { herding: true } : {}),
    ...(meta.basis !== undefined && meta.basis > 0 ? { basis: meta.basis } : {}),
  });
  return Buffer.from(`${line}\n${crc32(line).toString(16)}\n`, 'utf8');
}

function decodeFlockMeta(bytes: Uint8Array, flock: number): FlockMeta {
  const [line = '', sum = ''] = Buffer.from(bytes).toString('utf8').split('\n');
  const corrupt = () => new GrexError('GREX_ERR_STORE_CORRUPT', `metadata of flock ${flock} is corrupt`);
  if (crc32(line).toString(16) !== sum) throw corrupt();
  let value: Partial<FlockMeta> | null;
  try {
    value = JSON.parse(line) as Partial<FlockMeta> | null;
  } catch {
    throw corrupt();
  }
  if (value === null || typeof value !== 'object' || !Number.isSafeInteger(value.term) || !Number.isSafeInteger(value.seqReserved)) {
    throw corrupt();
  }
  const basis = Number.isSafeInteger(value.basis) && value.basis! > 0 ? { basis: value.basis! } : {};
  return { term: value.term!, seqReserved: value.seqReserved!, ...(value.herding === true ? { herding: true } : {}), ...basis };
}
