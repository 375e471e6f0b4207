/**
 * The write-ahead log: commits appended to numbered segment files in
 * `<data>/wal/`, made durable with one fdatasync per batch of waiting
 * commits (group commit) instead of one fsync per item file.
 *
 * States: open (appending to the current segment) -> closed; or broken, if
 * an append failed and its bytes could not be cut off again: then every
 * later append fails (the store refuses writes, reads go on).
 *
 * Invariants: a commit is acknowledged (its append resolves) only once its
 * bytes are durable (policy `always`); a failed append leaves none of its
 * bytes in the log, so a commit reported as failed cannot reappear at replay.
 * Segments are removed oldest first, only once the store has made every item
 * they hold durable in the item files.
 */
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { GrexError } from '../errors.js';
import type { FsyncPolicy } from './backend.js';
import { decodeWalCommit, type WalCommit } from './wal-record.js';
import { writeAll } from './write-all.js';

export interface WriteAheadLogOptions {
  dir: string;
  fsync: FsyncPolicy;
  /** A segment is closed and a new one started once it holds this many bytes. */
  segmentBytes?: number;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

interface PendingAppend {
  /** The commit's bytes, in parts written one after the other. */
  parts: readonly Uint8Array[];
  length: number;
  resolve: (segment: number) => void;
  reject: (err: Error) => void;
}

const SEGMENT_NAME = /^(\d{16})\.wal$/;

/**
 * A segment opened with O_DSYNC (where the platform has it) makes each batch
 * durable in the write itself: one call through libuv's thread pool per
 * batch instead of a write and then an fdatasync, each waking a pool thread
 * and the main thread after it. The kernel does the same flush either way.
 */
const DSYNC_FLAGS = constants.O_DSYNC === undefined ? undefined : constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DSYNC;
const segmentName = (id: number) => `${String(id).padStart(16, '0')}.wal`;

/**
 * A durable segment's file is made this much longer than its appends ahead
 * of them (a sparse tail of zeros, its size synced once), so a small batch's
 * write does not change the file's size: a sync write that changes it also
 * commits the filesystem's journal (ext4 here: ~150 µs per synced write
 * against ~230, and less CPU). Replay reads the zeros as the end.
 */
export const PREALLOCATE_BYTES = 1024 * 1024;
/** A batch this large extends the file itself (one synced write) instead of being preceded by a second sync that grows it. */
const EXTENDING_BATCH_BYTES = PREALLOCATE_BYTES / 4;

function ioError(what: string, err: unknown): GrexError {
  const code = (err as NodeJS.ErrnoException | null)?.code ?? 'EIO';
  return new GrexError('GREX_ERR_STORE_IO', `${what}: ${code}`, { errno: code }, { cause: err });
}

/** What replay found in one segment. */
export interface ReplayedSegment {
  id: number;
  commits: WalCommit[];
  /** Set when the segment ends in bytes that are not a whole commit (a torn, unacknowledged append). */
  tornAt?: number;
}

export class WriteAheadLog {
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  readonly segmentBytes: number;
  #handle: FileHandle | null = null;
  #segment = 0;
  #size = 0;
  /** The current segment file's size: #size plus the zeros preallocated after it. */
  #allocated = 0;
  #queue: PendingAppend[] = [];
  #flushing = false;
  #chain: Promise<void> = Promise.resolve();
  #broken: GrexError | null = null;
  #closed = false;
  /** Batches are durable once written (O_DSYNC): no fdatasync after them. */
  readonly #dsync: boolean;
  /**
   * Told of each batch made durable: how long its write (and sync) took and how
   * many commits it held (the disk's share of a write's latency, and how well
   * commits group; for metrics).
   */
  onBatchWritten: ((seconds: number, commits: number) => void) | null = null;

  constructor(options: WriteAheadLogOptions) {
    this.dir = options.dir;
    this.fsync = options.fsync;
    this.#dsync = options.fsync === 'always' && DSYNC_FLAGS !== undefined;
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  }

  /** The id of the segment appends go to now. */
  get currentSegment(): number {
    return this.#segment;
  }

  /** Ids of the segments on disk, oldest first. */
  async segments(): Promise<number[]> {
    const names = await readdir(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw ioError(`cannot list ${this.dir}`, err);
    });
    return names.flatMap((n) => {
      const m = SEGMENT_NAME.exec(n);
      return m === null ? [] : [Number(m[1])];
    }).sort((a, b) => a - b);
  }

  /** Reads every existing segment (for replay), oldest first. */
  async *replay(): AsyncGenerator<ReplayedSegment> {
    for (const id of await this.segments()) {
      const path = join(this.dir, segmentName(id));
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (err) {
        throw ioError(`cannot read ${path}`, err);
      }
      const commits: WalCommit[] = [];
      let offset = 0;
      let tornAt: number | undefined;
      for (;;) {
        const result = decodeWalCommit(bytes, offset, path);
        if (result.kind === 'end') break;
        if (result.kind === 'torn') {
          tornAt = result.at;
          break;
        }
        commits.push(result.commit);
        offset = result.next;
      }
      yield tornAt === undefined ? { id, commits } : { id, commits, tornAt };
    }
  }

  /** Starts a new segment after every existing one; call after replay. */
  async start(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      const existing = await this.segments();
      await this.#openSegment((existing.at(-1) ?? 0) + 1);
    } catch (err) {
      throw err instanceof GrexError ? err : ioError(`cannot start the write-ahead log in ${this.dir}`, err);
    }
  }

  async #openSegment(id: number): Promise<void> {
    const handle = await open(join(this.dir, segmentName(id)), this.#dsync ? DSYNC_FLAGS! : 'wx');
    if (this.fsync === 'always') await syncDir(this.dir);
    const previous = this.#handle;
    const previousSize = this.#size;
    const previousAllocated = this.#allocated;
    this.#handle = handle;
    this.#segment = id;
    this.#size = 0;
    this.#allocated = 0;
    if (previous !== null) await closeSegment(previous, previousSize, previousAllocated);
  }

  /**
   * Makes the segment file at least `needed` bytes long, and that length
   * durable, before a batch is written below it (see PREALLOCATE_BYTES).
   */
  async #preallocate(handle: FileHandle, needed: number): Promise<void> {
    const size = needed + PREALLOCATE_BYTES;
    await handle.truncate(size);
    await handle.datasync();
    this.#allocated = size;
  }

  /**
   * Appends one encoded commit (in one buffer, or in parts: encodeWalCommitParts);
   * resolves with its segment id once it is durable.
   */
  append(bytes: Uint8Array | readonly Uint8Array[]): Promise<number> {
    if (this.#closed) return Promise.reject(new GrexError('GREX_ERR_SHUTTING_DOWN', 'the write-ahead log is closed'));
    if (this.#broken !== null) return Promise.reject(this.#broken);
    return new Promise<number>((resolve, reject) => {
      const parts = bytes instanceof Uint8Array ? [bytes] : bytes;
      this.#queue.push({ parts, length: parts.reduce((n, p) => n + p.byteLength, 0), resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  /** Runs file operations one at a time: batch writes and segment switches never interleave. */
  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#chain.then(operation);
    this.#chain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#queue.length > 0) {
      // Everything that queued up while the previous batch was being written: one write, one sync.
      const batch = this.#queue;
      this.#queue = [];
      await this.#exclusive(() => this.#writeBatch(batch));
    }
    this.#flushing = false;
  }

  async #writeBatch(batch: PendingAppend[]): Promise<void> {
    if (this.#broken !== null) {
      for (const append of batch) append.reject(this.#broken);
      return;
    }
    const handle = this.#handle!;
    const start = this.#size;
    const end = start + batch.reduce((n, a) => n + a.length, 0);
    try {
      const began = performance.now();
      if (this.fsync === 'always' && end > this.#allocated && end - start < EXTENDING_BATCH_BYTES) await this.#preallocate(handle, end);
      await writeAll(handle, batch.flatMap((a) => a.parts), start);
      if (this.fsync === 'always' && !this.#dsync) await handle.datasync();
      this.onBatchWritten?.((performance.now() - began) / 1000, batch.length);
      this.#size = end;
      this.#allocated = Math.max(this.#allocated, end);
      for (const append of batch) append.resolve(this.#segment);
    } catch (err) {
      const error = ioError('cannot append to the write-ahead log', err);
      await this.#cutBack(handle, start, error);
      for (const append of batch) append.reject(error);
      return;
    }
    if (this.#size >= this.segmentBytes) {
      try {
        await this.#openSegment(this.#segment + 1);
      } catch (err) {
        this.#broken = ioError('cannot start a new write-ahead log segment', err);
      }
    }
  }

  /** Removes the bytes of a failed batch so it cannot be replayed; if that fails too, the log is broken. */
  async #cutBack(handle: FileHandle, size: number, error: GrexError): Promise<void> {
    try {
      await handle.truncate(size);
      if (this.fsync === 'always') await handle.datasync();
      this.#allocated = size;
    } catch {
      this.#broken = new GrexError('GREX_ERR_STORE_IO', `write-ahead log unusable after a failed append (${error.message}); restart the node`);
    }
  }

  /** Closes the current segment and starts the next; resolves with the id of the closed one. */
  rotate(): Promise<number> {
    return this.#exclusive(async () => {
      const closed = this.#segment;
      await this.#openSegment(closed + 1);
      return closed;
    });
  }

  /** Deletes every segment with an id up to and including `id` (the current one only if closed and asked to). */
  async removeThrough(id: number, includeCurrent = false): Promise<void> {
    for (const segment of await this.segments()) {
      if (segment > id || (segment === this.#segment && !(includeCurrent && this.#closed))) continue;
      await unlink(join(this.dir, segmentName(segment))).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw ioError(`cannot remove write-ahead log segment ${segment}`, err);
      });
    }
    if (this.fsync === 'always') await syncDir(this.dir).catch(() => {});
  }

  /** Refuses new appends, waits for those in progress and closes the current segment file. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#flushing) await this.#chain;
    await this.#exclusive(async () => {
      if (this.#handle !== null) await closeSegment(this.#handle, this.#size, this.#allocated);
      this.#handle = null;
    });
  }
}

/**
 * Closes a segment no longer appended to, first cutting off its preallocated
 * zeros so a closed segment is as long as its commits. Not synced: replay
 * reads the segment the same with or without them.
 */
async function closeSegment(handle: FileHandle, size: number, allocated: number): Promise<void> {
  if (allocated > size) await handle.truncate(size).catch(() => {});
  await handle.close();
}

export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
