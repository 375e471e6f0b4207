/**
 * Checkpoints of an ItemStore's log: item files are written behind the log
 * without fsync (apply-loop.ts); a checkpoint later fsyncs those written
 * since the last one, in bulk, and only then removes the closed log segments
 * whose records are all in their files. That order is what keeps an
 * acknowledged write safe: until its item file is on disk, its log segment stays.
 *
 * It also bounds the backlog of written but not yet synced item files
 * (`unsyncedMax`): at that many the log's segment is closed early so that a
 * checkpoint can run; at twice as many, commits wait for one (`whenSynced`).
 */
import type { Backend, ItemRef } from './backend.js';
import { APPLY_RETRY_MS } from './apply-loop.js';
import type { PendingItems } from './pending-items.js';
import type { WriteAheadLog } from './write-ahead-log.js';

/** What checkpoints need to know of the rest of the store. */
export interface CheckpointHooks {
  /** Background errors (retried). */
  onError: (err: Error) => void;
  /** The apply loop is writing everything at once (ApplyLoop.draining). */
  draining: () => boolean;
  /** The store is closing. */
  closing: () => boolean;
  /** Starts the apply loop (ApplyLoop.start). */
  startApplying: () => void;
}

export class Checkpoints {
  readonly #backend: Backend;
  readonly #wal: WriteAheadLog | null;
  readonly #pending: PendingItems;
  readonly #hooks: CheckpointHooks;
  readonly unsyncedMax: number;
  /** Items written to files since the last checkpoint. */
  #unsynced = new Map<string, ItemRef>();
  #checkpointing: Promise<void> | null = null;
  /** A segment closed early because the backlog of unsynced item files is large (see unsyncedMax). */
  #rotating: Promise<void> | null = null;
  #removedThrough = 0;
  /** Commits waiting for a checkpoint to shrink the unsynced backlog. */
  #syncWaiters: (() => void)[] = [];

  constructor(backend: Backend, wal: WriteAheadLog | null, pending: PendingItems, unsyncedMax: number, hooks: CheckpointHooks) {
    this.#backend = backend;
    this.#wal = wal;
    this.#pending = pending;
    this.unsyncedMax = unsyncedMax;
    this.#hooks = hooks;
  }

  /** Item files written since the last checkpoint, not yet fsynced (see unsyncedMax). */
  get unsyncedCount(): number {
    return this.#unsynced.size;
  }

  /** The checkpoint running, if any. */
  get checkpointing(): Promise<void> | null {
    return this.#checkpointing;
  }

  /** Commits waiting for the unsynced backlog to shrink. */
  get syncWaiting(): number {
    return this.#syncWaiters.length;
  }

  /** Replay at open removed the log's segments through this one. */
  removedAtOpen(through: number): void {
    this.#removedThrough = through;
  }

  /** Calls `wake` once the unsynced backlog is below twice unsyncedMax (or the store closes). */
  whenSynced(wake: () => void): void {
    this.#syncWaiters.push(wake);
  }

  /** Wakes every commit waiting for a checkpoint (the store is closed: they go on to fail on the closed log). */
  wakeAllSyncWaiters(): void {
    for (const wake of this.#syncWaiters.splice(0)) wake();
  }

  /** The apply loop wrote (or removed) an item's file, without fsync: the next checkpoint syncs it. */
  written(id: string, ref: ItemRef): void {
    this.#unsynced.set(id, ref);
    if (this.#unsynced.size >= this.unsyncedMax) this.closeSegmentEarly();
  }

  /**
   * Closes the log's current segment so that a checkpoint can sync the
   * backlog of item files now instead of when the segment fills up. Not
   * while a checkpoint runs: it is the one that syncs them.
   */
  closeSegmentEarly(): void {
    if (this.#wal === null || this.#rotating !== null || this.#checkpointing !== null || this.#hooks.draining()) return;
    if (this.#wal.currentSegment - 1 > this.#removedThrough) return; // a closed segment waits for its checkpoint already
    this.#rotating = this.#wal
      .rotate()
      .then(
        () => {},
        (err: unknown) => this.#hooks.onError(err as Error),
      )
      .finally(() => {
        this.#rotating = null;
        if (this.#syncWaiters.length > 0) this.#hooks.startApplying();
        this.maybeCheckpoint();
      });
  }

  #wakeSyncWaiters(): void {
    if (this.#unsynced.size < 2 * this.unsyncedMax) for (const wake of this.#syncWaiters.splice(0)) wake();
  }

  /** Checkpoints the closed segments once every record they hold is in its item file. */
  maybeCheckpoint(): void {
    if (this.#wal === null || this.#checkpointing !== null || (this.#hooks.closing() && !this.#hooks.draining())) return;
    const closedThrough = this.#wal.currentSegment - 1;
    if (closedThrough <= this.#removedThrough) return;
    for (const segment of this.#pending.outstanding.keys()) if (segment <= closedThrough) return;
    this.#checkpointing = this.checkpoint(closedThrough)
      .catch((err: unknown) => {
        this.#hooks.onError(err as Error);
        // Nothing else may come to try again (commits can be waiting for this one).
        setTimeout(() => this.maybeCheckpoint(), APPLY_RETRY_MS).unref();
      })
      .finally(() => {
        this.#checkpointing = null;
        this.#wakeSyncWaiters();
        // Written meanwhile, the next backlog may already be due.
        if (this.#unsynced.size >= this.unsyncedMax) this.closeSegmentEarly();
      });
  }

  /** Syncs the item files written so far, then removes the log segments through `through`. */
  async checkpoint(through: number): Promise<void> {
    const refs = this.#unsynced;
    this.#unsynced = new Map();
    try {
      await this.#backend.sync([...refs.values()]);
      await this.#wal!.removeThrough(through);
      this.#removedThrough = Math.max(this.#removedThrough, through);
      this.#wakeSyncWaiters();
    } catch (err) {
      for (const [id, ref] of refs) if (!this.#unsynced.has(id)) this.#unsynced.set(id, ref);
      throw err;
    }
  }
}
