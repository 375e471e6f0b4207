/**
 * The apply loop of an ItemStore: writes pending items (pending-items.ts) to
 * their item files behind the log, without fsync (a checkpoint syncs them,
 * checkpoints.ts).
 *
 * Coalescing: an item is written `applyDelayMs` after its first pending
 * record, once for all its records of that time, base and deltas composed
 * into the whole item; items are written in the order they started waiting.
 * It writes at once (and more items at a time) when it is urgent: a quarter
 * of pendingBytesMax is pending, a commit waits for room or for a
 * checkpoint, or the store drains to close. A failed write leaves the
 * records pending (and in the log) and is tried again later.
 */
import type { Backend } from './backend.js';
import type { Checkpoints } from './checkpoints.js';
import type { GrexError } from '../errors.js';
import { composeItem } from './item-delta.js';
import type { ItemHeader, ItemRecord } from './item-record.js';
import { headerOf, type PendingItems } from './pending-items.js';
import type { WrittenItems } from './written-items.js';

const APPLY_BATCH = 16;
/** Item files written at once when nothing is urgent, so the log's own I/O rarely waits for a thread of libuv's pool. */
const APPLY_BATCH_CALM = 4;
/** Wait before a failed item file write (or checkpoint, checkpoints.ts) is tried again. */
export const APPLY_RETRY_MS = 1000;

export class ApplyLoop {
  readonly #backend: Backend;
  readonly #pending: PendingItems;
  readonly #written: WrittenItems;
  readonly #checkpoints: Checkpoints;
  readonly #applyDelayMs: number;
  readonly #onError: (err: Error) => void;
  /** Items whose files are being written now (their entries are the loop's meanwhile). */
  readonly #inFlight = new Set<string>();
  #applying = false;
  #draining = false;
  #applyTimer: NodeJS.Timeout | null = null;
  #applyTimerAt = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  /** Items whose write failed, put back in line by the retry timer. */
  readonly #toApplyLater = new Set<string>();
  #drainWaiters: (() => void)[] = [];

  constructor(
    backend: Backend,
    pending: PendingItems,
    written: WrittenItems,
    checkpoints: Checkpoints,
    options: { applyDelayMs: number; onError: (err: Error) => void },
  ) {
    this.#backend = backend;
    this.#pending = pending;
    this.#written = written;
    this.#checkpoints = checkpoints;
    this.#applyDelayMs = options.applyDelayMs;
    this.#onError = options.onError;
  }

  /** Writing everything at once until every pending record is in its file (see drain). */
  get draining(): boolean {
    return this.#draining;
  }

  /** The item's file is being written (the apply loop owns its entry meanwhile). */
  isInFlight(id: string): boolean {
    return this.#inFlight.has(id);
  }

  /** Write at once rather than wait: a quarter of the pending memory is used, a commit waits for space, or the store closes. */
  #urgent(): boolean {
    return (
      this.#draining ||
      this.#applyDelayMs <= 0 ||
      this.#pending.spaceWaiting > 0 ||
      this.#checkpoints.syncWaiting > 0 ||
      this.#pending.bytes > this.#pending.bytesMax / 4
    );
  }

  /** Starts the loop now if it is urgent, else leaves it to a timer already set. */
  start(): void {
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
      this.start();
    }, ms);
    this.#applyTimer.unref();
  }

  async #applyLoop(): Promise<void> {
    this.#applying = true;
    if (this.#applyTimer !== null) {
      clearTimeout(this.#applyTimer);
      this.#applyTimer = null;
    }
    const toApply = this.#pending.toApply;
    let waitMs = -1;
    while (toApply.size > 0) {
      const now = Date.now();
      const urgent = this.#urgent();
      const batch: string[] = [];
      waitMs = -1;
      for (const id of toApply) {
        if (this.#inFlight.has(id)) continue;
        const entry = this.#pending.get(id);
        if (entry === undefined) {
          toApply.delete(id);
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
      for (const id of batch) toApply.delete(id);
      await Promise.all(batch.map((id) => this.#applyOne(id)));
    }
    this.#applying = false;
    if (waitMs >= 0) this.#applyLater(waitMs);
    this.#checkpoints.maybeCheckpoint();
    if (toApply.size === 0 && this.#inFlight.size === 0) for (const wake of this.#drainWaiters.splice(0)) wake();
  }

  /** Writes an item's pending state to its file: its newest whole record, or that composed with its deltas. */
  async #applyOne(id: string): Promise<void> {
    const entry = this.#pending.get(id);
    if (entry === undefined) return;
    this.#inFlight.add(id);
    const { flock, bucketKey, itemKey, base } = entry;
    const count = entry.deltas.length;
    // What the file holds now, if this store wrote it lately (the backend need not look).
    const written = this.#written.headers.get(id);
    let replacedBytes = written === undefined ? undefined : written === 'absent' ? null : written.size;
    try {
      let target: ItemRecord | 'remove' | 'none';
      let headerOfFile: ItemHeader | 'absent' = 'absent';
      let writtenAlready = false;
      if (count === 0) {
        target = base!.purge === true ? 'remove' : base!;
      } else {
        let start: ItemRecord | undefined;
        if (base === null) {
          try {
            start = this.#written.body(id) ?? (await this.#backend.read(flock, bucketKey, itemKey));
          } catch (err) {
            if ((err as GrexError).code !== 'GREX_ERR_STORE_CORRUPT') throw err;
            // The file the deltas build on is damaged: they cannot be composed here. The item
            // reads as damaged (not as an older version), so repair replaces it from the herders.
            this.#onError(err as Error);
            this.#written.headers.delete(id);
            if (this.#pending.get(id) === entry && entry.base === null) this.#pending.drop(id, entry);
            return;
          }
          if (start !== undefined) headerOfFile = headerOf(start);
          replacedBytes = start === undefined ? null : start.payload.byteLength;
        } else if (base.purge !== true) {
          start = base;
        }
        const deltas = entry.deltas.records(count);
        // Composed and written off the main thread where the backend can (the file thread).
        const offloaded = this.#backend.writeComposed?.(flock, { bucketKey, itemKey, start, deltas }, replacedBytes);
        const composed = offloaded === undefined ? composeItem(start, deltas) : await offloaded;
        if (composed.applied > 0) {
          target = composed.record!;
          writtenAlready = offloaded !== undefined;
        } else target = base === null ? 'none' : base.purge === true ? 'remove' : base;
      }
      if (target === 'remove') await this.#backend.remove(flock, bucketKey, itemKey);
      else if (target !== 'none' && !writtenAlready) await this.#backend.write(flock, [target], { durable: false, replacing: [replacedBytes] });
      this.#checkpoints.written(id, { flock, bucketKey, itemKey });
      this.#written.headers.set(id, target === 'remove' ? 'absent' : target === 'none' ? headerOfFile : headerOf(target));
      // Keep a record the deltas were composed into (a buffer of its own, not a view that would
      // hold a larger one) for the next deltas.
      if (typeof target === 'object' && count > 0 && !target.tombstone && target.payload.byteLength === target.payload.buffer.byteLength) this.#written.bodies?.set(id, target);
      else this.#written.bodies?.delete(id);
      this.#written.applies++;
      // Newer records may have come meanwhile: they stay pending and are written next time.
      if (this.#pending.get(id) !== entry) return;
      if (entry.deltas.length === count) {
        this.#pending.drop(id, entry);
        return;
      }
      this.#pending.release(entry.baseSegments);
      this.#pending.release(entry.deltas.segments(count));
      entry.base = null;
      entry.baseSegments = [];
      entry.deltas.dropFirst(count);
      if (typeof target === 'object') entry.fileSize = target.payload.byteLength;
      entry.since = Date.now();
      this.#pending.resize(entry);
      // To the back of the line with its new time, so the line stays in order of waiting.
      this.#pending.toApply.delete(id);
      this.#pending.toApply.add(id);
    } catch (err) {
      // The records stay pending (reads still see them) and in the log; try again later.
      this.#onError(err as Error);
      this.#retryLater(id);
    } finally {
      this.#inFlight.delete(id);
      // A newer record of this item came while it was being written (the loop skipped it as in
      // flight): make sure a run picks it up when it is due, not only at the next commit.
      const next = this.#pending.get(id);
      if (next !== undefined && next !== entry && this.#pending.toApply.has(id)) this.#applyLater(Math.max(0, next.since + this.#applyDelayMs - Date.now()));
    }
  }

  #retryLater(id: string): void {
    this.#toApplyLater.add(id);
    if (this.#retryTimer !== null) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      for (const later of this.#toApplyLater) this.#pending.toApply.add(later);
      this.#toApplyLater.clear();
      this.start();
    }, APPLY_RETRY_MS);
    this.#retryTimer.unref();
  }

  /** Resolves once every pending record is in its file, or when applying fails and waits for a retry. */
  async drain(): Promise<void> {
    this.#draining = true;
    try {
      while ((this.#pending.toApply.size > 0 || this.#inFlight.size > 0 || this.#applying) && this.#toApplyLater.size === 0) {
        await new Promise<void>((resolve) => {
          this.#drainWaiters.push(resolve);
          this.start();
        });
      }
      const checkpointing = this.#checkpoints.checkpointing;
      if (checkpointing !== null) await checkpointing;
    } finally {
      this.#draining = false;
    }
  }

  /** Stops the timers (the store closes). */
  stopTimers(): void {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    if (this.#applyTimer !== null) clearTimeout(this.#applyTimer);
  }
}
