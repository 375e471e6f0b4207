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
 *
 * This class is the facade that orders the parts: the pending table and its
 * memory bound (pending-items.ts), what it remembers of item files it wrote
 * (written-items.ts), the apply loop writing items behind the log
 * (apply-loop.ts), checkpoints (checkpoints.ts), replay at open
 * (log-replay.ts), reads (item-reads.ts), listings (item-listings.ts), how a
 * commit's deltas fit their items (delta-commits.ts) and flock metadata
 * (flock-meta.ts).
 */
import { GrexError } from '../errors.js';
import { ApplyLoop } from './apply-loop.js';
import type { Backend, FsyncPolicy } from './backend.js';
import { Checkpoints } from './checkpoints.js';
import { commitDirect, fitDeltas } from './delta-commits.js';
import { decodeFlockMeta, encodeFlockMeta, type FlockMeta } from './flock-meta.js';
import { ItemListings } from './item-listings.js';
import type { ItemHeader, ItemRecord } from './item-record.js';
import { ItemReads } from './item-reads.js';
import type { ListingEntry } from './listing.js';
import { replayLog } from './log-replay.js';
import { itemId, PendingItems, tipVersion } from './pending-items.js';
import { compareVersions, formatVersion } from './version.js';
import { encodeWalCommitParts } from './wal-record.js';
import { WriteAheadLog } from './write-ahead-log.js';
import type { StoreUsage } from './usage-tally.js';
import { WrittenItems } from './written-items.js';

export type { FlockMeta } from './flock-meta.js';

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

export const DEFAULT_PENDING_BYTES_MAX = 64 * 1024 * 1024;
export const DEFAULT_APPLY_DELAY_MS = 1000;
export const DEFAULT_UNSYNCED_MAX = 8192;

export class ItemStore {
  readonly backend: Backend;
  readonly #wal: WriteAheadLog | null;
  readonly #onError: (err: Error) => void;
  /** Committed records not yet written to their item files (and their memory, their log segments). */
  readonly #pending: PendingItems;
  /** Headers and bodies of item files this store wrote or read lately. */
  readonly #written: WrittenItems;
  /** Syncs written item files and then removes log segments; bounds the unsynced backlog. */
  readonly #checkpoints: Checkpoints;
  /** Writes pending items to their files behind the log. */
  readonly #apply: ApplyLoop;
  readonly #reads: ItemReads;
  readonly #listings: ItemListings;
  /** Set by close(): checkpoints then run only within its drain, and commits no longer wait for the unsynced backlog. */
  #closing = false;

  constructor(backend: Backend, options: ItemStoreOptions = {}) {
    this.backend = backend;
    this.#wal = options.wal === undefined ? null : new WriteAheadLog(options.wal);
    this.#onError = options.onError ?? (() => {});
    this.#pending = new PendingItems(options.pendingBytesMax ?? DEFAULT_PENDING_BYTES_MAX);
    this.#written = new WrittenItems(this.#pending, this.#wal !== null);
    this.#checkpoints = new Checkpoints(backend, this.#wal, this.#pending, options.unsyncedMax ?? DEFAULT_UNSYNCED_MAX, {
      onError: this.#onError,
      draining: () => this.#apply.draining,
      closing: () => this.#closing,
      startApplying: () => this.#apply.start(),
    });
    this.#apply = new ApplyLoop(backend, this.#pending, this.#written, this.#checkpoints, {
      applyDelayMs: options.applyDelayMs ?? DEFAULT_APPLY_DELAY_MS,
      onError: this.#onError,
    });
    this.#reads = new ItemReads(backend, this.#pending, this.#written, this.#apply);
    this.#listings = new ItemListings(backend, this.#pending, this.#reads);
  }

  /** Opens the backend and, if there is a log, replays what a crash left in it. */
  async open(): Promise<OpenReport> {
    await this.backend.open();
    const report: OpenReport = { replayedCommits: 0, tornSegments: 0 };
    if (this.#wal === null) return report;
    try {
      // The replayed items are in their files and synced before any segment goes.
      const lastSegment = await replayLog(this.#wal, this.backend, this.#onError, report);
      await this.#wal.start();
      await this.#wal.removeThrough(lastSegment);
      this.#checkpoints.removedAtOpen(lastSegment);
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
      await this.#apply.drain();
      if (this.#pending.size === 0) {
        try {
          const through = await this.#wal.rotate();
          await this.#checkpoints.checkpoint(through);
        } catch (err) {
          this.#onError(err as Error); // the log stays and is replayed at the next open
        }
      }
      this.#apply.stopTimers();
      await this.#wal.close();
      // Commits still waiting for a checkpoint go on to fail on the closed log.
      this.#checkpoints.wakeAllSyncWaiters();
      // An empty log is nothing to replay: leave no segment behind after a clean stop.
      if (this.#pending.size === 0) await this.#wal.removeThrough(Number.MAX_SAFE_INTEGER, true).catch(() => {});
    }
    await this.backend.close();
  }

  /** An item's record, tombstones included (deltas composed in: always the whole item). */
  read(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    return this.#reads.read(flock, bucketKey, itemKey);
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
  head(flock: number, bucketKey: string, itemKey: string): Promise<ItemHeader | undefined> {
    return this.#reads.head(flock, bucketKey, itemKey);
  }

  /** Headers of a bucket's live items, sorted by itemKey. */
  listLive(flock: number, bucketKey: string): Promise<ItemHeader[]> {
    return this.#listings.listLive(flock, bucketKey);
  }

  /**
   * Everything this node holds of a flock (tombstones included), sorted by
   * bucket and item; optionally only the buckets in [from, to). With `verify`,
   * every record is read whole and checked (`pace` is told the bytes read, so
   * a caller can limit the rate); damaged copies are listed as `corrupt`.
   */
  listFlock(
    flock: number,
    options: { from?: string | null; to?: string | null; verify?: boolean; pace?: (bytes: number) => Promise<void> } = {},
  ): Promise<ListingEntry[]> {
    return this.#listings.listFlock(flock, options);
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
    if (this.#wal === null) return commitDirect(this.backend, flock, records, options);
    while (this.#pending.bytes > this.#pending.bytesMax || (this.#checkpoints.unsyncedCount >= 2 * this.#checkpoints.unsyncedMax && !this.#closing)) {
      if (this.#pending.bytes > this.#pending.bytesMax) await new Promise<void>((resolve) => this.#pending.whenRoom(resolve));
      else {
        await new Promise<void>((resolve) => {
          this.#checkpoints.whenSynced(resolve);
          // The checkpoint waits for the records of its segments to be in their files: write them now.
          this.#apply.start();
          this.#checkpoints.closeSegmentEarly();
        });
      }
    }
    const left = await fitDeltas(this.backend, this.#pending, this.#written, flock, records, options);
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
      if (!this.#pending.add(flock, record, segment, options.force === true, left.fileSizes)) left.skipped.push(record);
    }
    this.#apply.start();
    if (left.skipped.length > 0 && options.partial !== true) {
      // Only when commits of one item overlapped (see the module comment): the rest is stored.
      const record = left.skipped[0]!;
      throw new GrexError('GREX_ERR_INTERNAL', `item ${JSON.stringify(record.itemKey)} changed while the append (${formatVersion(record.version)}) was being stored`, {
        itemKey: record.itemKey,
      });
    }
    return left.skipped;
  }

  /** Told of each batch of commits the log made durable: its write time and commits (for metrics). */
  onLogBatch(listener: ((seconds: number, commits: number) => void) | null): void {
    if (this.#wal !== null) this.#wal.onBatchWritten = listener;
  }

  /** Memory of committed records not yet in item files (payloads plus a per-record overhead). */
  get pendingBytes(): number {
    return this.#pending.bytes;
  }

  /** Item files written since the last checkpoint, not yet fsynced (see unsyncedMax). */
  get unsyncedCount(): number {
    return this.#checkpoints.unsyncedCount;
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
