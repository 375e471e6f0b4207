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
 * Without a log (the memory backend), a commit writes the records directly.
 */
import { crc32 } from 'node:zlib';
import { GrexError } from '../errors.js';
import type { Backend, FsyncPolicy, ItemRef } from './backend.js';
import type { ItemHeader, ItemRecord } from './item-record.js';
import { compareVersions } from './version.js';
import { sortListing, type ListingEntry } from './listing.js';
import { encodeWalCommit } from './wal-record.js';
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
}

export interface ItemStoreOptions {
  /** Keep a write-ahead log in this folder (the filesystem store does). */
  wal?: { dir: string; fsync: FsyncPolicy; segmentBytes?: number };
  /** Committed bytes not yet in item files before new commits wait (default 64 MiB). */
  pendingBytesMax?: number;
  /** Errors of background work (applying, checkpoints); they are retried. */
  onError?: (err: Error) => void;
}

export interface OpenReport {
  /** Commits found in the log at open (left by a crash) and applied. */
  replayedCommits: number;
  /** Log segments that ended in a torn, never acknowledged append. */
  tornSegments: number;
}

interface PendingItem {
  flock: number;
  record: ItemRecord;
  segment: number;
}

const APPLY_BATCH = 16;
const APPLY_RETRY_MS = 1000;
export const DEFAULT_PENDING_BYTES_MAX = 64 * 1024 * 1024;

// NUL never occurs in keys: it separates the parts unambiguously.
const itemId = (flock: number, bucketKey: string, itemKey: string) => `${flock}\0${bucketKey}\0${itemKey}`;
const bucketId = (flock: number, bucketKey: string) => `${flock}\0${bucketKey}`;

export class ItemStore {
  readonly backend: Backend;
  readonly #wal: WriteAheadLog | null;
  readonly #pendingBytesMax: number;
  readonly #onError: (err: Error) => void;
  /** Committed records not yet written to their item files, by item. */
  readonly #pending = new Map<string, PendingItem>();
  /** itemKeys of pending records, by bucket (for listings). */
  readonly #pendingBuckets = new Map<string, Set<string>>();
  #pendingBytes = 0;
  readonly #toApply = new Set<string>();
  readonly #inFlight = new Set<string>();
  #applying = false;
  #retryTimer: NodeJS.Timeout | null = null;
  /** Pending records per log segment: a segment can go once its count is zero. */
  readonly #outstanding = new Map<number, number>();
  /** Items written to files since the last checkpoint. */
  #unsynced = new Map<string, ItemRef>();
  #checkpointing: Promise<void> | null = null;
  #removedThrough = 0;
  #spaceWaiters: (() => void)[] = [];
  #drainWaiters: (() => void)[] = [];

  constructor(backend: Backend, options: ItemStoreOptions = {}) {
    this.backend = backend;
    this.#wal = options.wal === undefined ? null : new WriteAheadLog(options.wal);
    this.#pendingBytesMax = options.pendingBytesMax ?? DEFAULT_PENDING_BYTES_MAX;
    this.#onError = options.onError ?? (() => {});
  }

  /** Opens the backend and, if there is a log, replays what a crash left in it. */
  async open(): Promise<OpenReport> {
    await this.backend.open();
    const report: OpenReport = { replayedCommits: 0, tornSegments: 0 };
    if (this.#wal === null) return report;
    try {
      let lastSegment = 0;
      // The last record of each item in log order is its state: commits of one item are
      // logged in the order they were made (repairs by the active node may go backwards).
      const latest = new Map<string, { flock: number; record: ItemRecord }>();
      for await (const segment of this.#wal.replay()) {
        lastSegment = segment.id;
        if (segment.tornAt !== undefined) report.tornSegments++;
        for (const commit of segment.commits) {
          report.replayedCommits++;
          for (const record of commit.records) latest.set(itemId(commit.flock, record.bucketKey, record.itemKey), { flock: commit.flock, record });
        }
      }
      const written: ItemRef[] = [];
      for (const { flock, record } of latest.values()) {
        if (record.purge === true) await this.backend.remove(flock, record.bucketKey, record.itemKey);
        else await this.backend.write(flock, [record], { durable: false });
        written.push({ flock, bucketKey: record.bucketKey, itemKey: record.itemKey });
      }
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
      await this.#wal.close();
      // An empty log is nothing to replay: leave no segment behind after a clean stop.
      if (this.#pending.size === 0) await this.#wal.removeThrough(Number.MAX_SAFE_INTEGER, true).catch(() => {});
    }
    await this.backend.close();
  }

  /** An item's record, tombstones included. */
  async read(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    const pending = this.#pending.get(itemId(flock, bucketKey, itemKey));
    if (pending !== undefined) return pending.record.purge === true ? undefined : pending.record;
    return this.backend.read(flock, bucketKey, itemKey);
  }

  /** An item's record, or undefined when it is absent or deleted. */
  async readLive(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    const record = await this.read(flock, bucketKey, itemKey);
    return record === undefined || record.tombstone ? undefined : record;
  }

  /** Headers of a bucket's live items, sorted by itemKey. */
  async listLive(flock: number, bucketKey: string): Promise<ItemHeader[]> {
    // Pending records first: one applied while the files are listed is then still seen.
    const pending = [...(this.#pendingBuckets.get(bucketId(flock, bucketKey)) ?? [])].map(
      (itemKey) => this.#pending.get(itemId(flock, bucketKey, itemKey))!.record,
    );
    const byKey = new Map<string, ItemHeader>();
    for (const header of await this.backend.list(flock, bucketKey)) byKey.set(header.itemKey, header);
    for (const record of pending) this.#overlay(byKey, record);
    return [...byKey.values()]
      .filter((h) => !h.tombstone && h.corrupt !== true)
      .map(({ bucketKey: b, itemKey, version, tombstone, encoding, size }) => ({ bucketKey: b, itemKey, version, tombstone, encoding, size }))
      .sort((a, b) => (a.itemKey < b.itemKey ? -1 : a.itemKey > b.itemKey ? 1 : 0));
  }

  /**
   * A pending record applied over a listed header: the pending one is the newer
   * state, except that a listing taken after the pending record was written
   * already shows it (same outcome).
   */
  #overlay(byKey: Map<string, ItemHeader>, record: ItemRecord): void {
    if (record.purge === true) {
      byKey.delete(record.itemKey);
      return;
    }
    byKey.set(record.itemKey, {
      bucketKey: record.bucketKey,
      itemKey: record.itemKey,
      version: record.version,
      tombstone: record.tombstone,
      encoding: record.encoding,
      size: record.payload.byteLength,
    });
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
    // Pending records first (see listLive), then the files.
    const pendingByBucket = new Map<string, ItemRecord[]>();
    for (const entry of this.#pending.values()) {
      if (entry.flock !== flock || !inRange(entry.record.bucketKey)) continue;
      let list = pendingByBucket.get(entry.record.bucketKey);
      if (list === undefined) pendingByBucket.set(entry.record.bucketKey, (list = []));
      list.push(entry.record);
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
      for (const record of pendingByBucket.get(bucketKey) ?? []) this.#overlay(byKey, record);
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
   * remove their item.
   */
  async commit(flock: number, records: readonly ItemRecord[], options: { force?: boolean } = {}): Promise<void> {
    if (this.#wal === null) {
      const purges = records.filter((r) => r.purge === true);
      for (const r of purges) await this.backend.remove(flock, r.bucketKey, r.itemKey);
      return this.backend.write(flock, purges.length === 0 ? records : records.filter((r) => r.purge !== true));
    }
    while (this.#pendingBytes > this.#pendingBytesMax) {
      await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve));
    }
    if (options.force !== true) {
      // An older version than one already pending would lose live but win at replay (log order): leave it out.
      records = records.filter((r) => {
        const pending = this.#pending.get(itemId(flock, r.bucketKey, r.itemKey));
        return pending === undefined || compareVersions(pending.record.version, r.version) <= 0;
      });
      if (records.length === 0) return;
    }
    const segment = await this.#wal.append(encodeWalCommit(flock, records));
    for (const record of records) this.#addPending(flock, record, segment, options.force === true);
    this.#startApplying();
  }

  #addPending(flock: number, record: ItemRecord, segment: number, force: boolean): void {
    const id = itemId(flock, record.bucketKey, record.itemKey);
    const existing = this.#pending.get(id);
    if (existing !== undefined) {
      // Out-of-order arrivals of one item keep the newer; a forced record always wins.
      if (!force && compareVersions(existing.record.version, record.version) > 0) return;
      this.#dropPending(id, existing);
    }
    this.#pending.set(id, { flock, record, segment });
    let items = this.#pendingBuckets.get(bucketId(flock, record.bucketKey));
    if (items === undefined) this.#pendingBuckets.set(bucketId(flock, record.bucketKey), (items = new Set()));
    items.add(record.itemKey);
    this.#pendingBytes += record.payload.byteLength;
    this.#outstanding.set(segment, (this.#outstanding.get(segment) ?? 0) + 1);
    this.#toApply.add(id);
  }

  #dropPending(id: string, entry: PendingItem): void {
    this.#pending.delete(id);
    const bucket = bucketId(entry.flock, entry.record.bucketKey);
    const items = this.#pendingBuckets.get(bucket);
    items?.delete(entry.record.itemKey);
    if (items?.size === 0) this.#pendingBuckets.delete(bucket);
    this.#pendingBytes -= entry.record.payload.byteLength;
    const left = (this.#outstanding.get(entry.segment) ?? 1) - 1;
    if (left === 0) this.#outstanding.delete(entry.segment);
    else this.#outstanding.set(entry.segment, left);
    if (this.#pendingBytes <= this.#pendingBytesMax) for (const wake of this.#spaceWaiters.splice(0)) wake();
  }

  #startApplying(): void {
    if (!this.#applying) void this.#applyLoop();
  }

  async #applyLoop(): Promise<void> {
    this.#applying = true;
    while (this.#toApply.size > 0) {
      const batch: string[] = [];
      for (const id of this.#toApply) {
        if (this.#inFlight.has(id)) continue;
        batch.push(id);
        if (batch.length === APPLY_BATCH) break;
      }
      if (batch.length === 0) break;
      for (const id of batch) this.#toApply.delete(id);
      await Promise.all(batch.map((id) => this.#applyOne(id)));
    }
    this.#applying = false;
    this.#maybeCheckpoint();
    if (this.#toApply.size === 0 && this.#inFlight.size === 0) for (const wake of this.#drainWaiters.splice(0)) wake();
  }

  async #applyOne(id: string): Promise<void> {
    const entry = this.#pending.get(id);
    if (entry === undefined) return;
    this.#inFlight.add(id);
    try {
      if (entry.record.purge === true) await this.backend.remove(entry.flock, entry.record.bucketKey, entry.record.itemKey);
      else await this.backend.write(entry.flock, [entry.record], { durable: false });
      this.#unsynced.set(id, { flock: entry.flock, bucketKey: entry.record.bucketKey, itemKey: entry.record.itemKey });
      // A newer record may have been committed meanwhile: it stays pending and is applied next.
      if (this.#pending.get(id) === entry) this.#dropPending(id, entry);
    } catch (err) {
      // The record stays pending (reads still see it) and in the log; try again later.
      this.#onError(err as Error);
      this.#retryLater(id);
    } finally {
      this.#inFlight.delete(id);
    }
  }

  #retryLater(id: string): void {
    if (this.#retryTimer !== null) {
      this.#toApplyLater.add(id);
      return;
    }
    this.#toApplyLater.add(id);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      for (const later of this.#toApplyLater) this.#toApply.add(later);
      this.#toApplyLater.clear();
      this.#startApplying();
    }, APPLY_RETRY_MS);
    this.#retryTimer.unref();
  }

  readonly #toApplyLater = new Set<string>();

  /** Resolves once every pending record is in its file, or when applying fails and waits for a retry. */
  async #drain(): Promise<void> {
    while ((this.#toApply.size > 0 || this.#inFlight.size > 0 || this.#applying) && this.#toApplyLater.size === 0) {
      await new Promise<void>((resolve) => {
        this.#drainWaiters.push(resolve);
        this.#startApplying();
      });
    }
    if (this.#checkpointing !== null) await this.#checkpointing;
  }

  /** Checkpoints the closed segments once every record they hold is in its item file. */
  #maybeCheckpoint(): void {
    if (this.#wal === null || this.#checkpointing !== null) return;
    const closedThrough = this.#wal.currentSegment - 1;
    if (closedThrough <= this.#removedThrough) return;
    for (const segment of this.#outstanding.keys()) if (segment <= closedThrough) return;
    this.#checkpointing = this.#checkpoint(closedThrough)
      .catch((err: unknown) => this.#onError(err as Error))
      .finally(() => (this.#checkpointing = null));
  }

  async #checkpoint(through: number): Promise<void> {
    const refs = this.#unsynced;
    this.#unsynced = new Map();
    try {
      await this.backend.sync([...refs.values()]);
      await this.#wal!.removeThrough(through);
      this.#removedThrough = Math.max(this.#removedThrough, through);
    } catch (err) {
      for (const [id, ref] of refs) if (!this.#unsynced.has(id)) this.#unsynced.set(id, ref);
      throw err;
    }
  }

  /** Committed bytes not yet in item files. */
  get pendingBytes(): number {
    return this.#pendingBytes;
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
  const line = JSON.stringify({ term: meta.term, seqReserved: meta.seqReserved, ...(meta.herding === true ? { herding: true } : {}) });
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
  return { term: value.term!, seqReserved: value.seqReserved!, ...(value.herding === true ? { herding: true } : {}) };
}
