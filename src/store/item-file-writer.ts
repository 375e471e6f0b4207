/**
 * The main thread's end of the item-file thread (item-file-thread.ts). The
 * files asked for in one turn of the event loop go to the thread in one
 * message; their bytes are copied into one buffer that is moved to the
 * thread, not cloned (a payload may be a view of a larger buffer, and
 * cloning a view copies all of that buffer), and moved back with the answer
 * to carry the next batch.
 *
 * States: no thread -> thread idle (unref'd: it does not keep the process
 * alive) <-> thread busy -> closed. If the thread dies, every write it had
 * fails (code EIO: the store keeps those records in its log and writes them
 * again later) and the next write starts a new thread.
 */
import { Worker } from 'node:worker_threads';
import type { ItemEncoding, ItemRecord } from './item-record.js';
import type { Version } from './version.js';

/**
 * Deltas the thread folds into a start record before it writes the item's
 * file (item-delta.ts composeItem): the file's bytes are then the start's
 * payload followed by the deltas' payloads, in this order.
 */
export interface ComposeOrder {
  bucketKey: string;
  itemKey: string;
  start: { version: Version; tombstone: boolean; encoding: ItemEncoding; length: number } | null;
  deltas: { version: Version; length: number }[];
}

/** One message to the thread: the files' bytes back to back, and where each goes. */
export interface FileBatch {
  id: number;
  bytes: ArrayBuffer;
  files: { offset: number; length: number; tmp: string; dir: string; name: string; needSize: boolean; compose?: ComposeOrder }[];
}

/** What the thread composed and wrote: the item's new payload (moved, not copied) and version. Absent when no delta applied (nothing written). */
export interface ComposedOnThread {
  applied: number;
  payload: ArrayBuffer;
  version: Version;
  /** Bytes of the file written (head and payload). */
  fileBytes: number;
}

/** Per file: the size of the file it replaced (null: none, or not asked), or why it failed. */
export type FileOutcome = { before: number | null; composed?: ComposedOnThread } | { error: { code: string; message: string } };

/** An item composed and written by the thread. */
export interface ComposedFile {
  /** Size of the file it replaced (null: none, or not asked). */
  before: number | null;
  /** The composed item; undefined when no delta applied (then no file was written). */
  record: ItemRecord | undefined;
  applied: number;
  fileBytes: number;
}

const THREAD_FILE = new URL('./item-file-thread.js', import.meta.url);
/** The thread keeps nothing between batches (a composed list lives for one file): a small young generation is plenty. */
const THREAD_YOUNG_GENERATION_MB = 2;
/** A batch's buffer comes back with its answer and is reused for the next batch, up to this size. */
const SPARE_MAX_BYTES = 4 * 1024 * 1024;

interface Waiting {
  parts: readonly Uint8Array[];
  tmp: string;
  dir: string;
  name: string;
  needSize: boolean;
  compose?: ComposeOrder;
  resolve: (outcome: { before: number | null; composed?: ComposedOnThread }) => void;
  reject: (err: Error) => void;
}

function fileError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export class ItemFileWriter {
  #thread: Worker | null = null;
  #queue: Waiting[] = [];
  readonly #sent = new Map<number, Waiting[]>();
  #nextId = 1;
  #closed = false;
  #idle: (() => void)[] = [];
  /** The last batch's buffer, back from the thread: the next batch is written into it if it fits. */
  #spare: ArrayBuffer | null = null;

  /**
   * Writes `parts` to `<dir>/<name>` through the temp file `tmp` (renamed
   * over it; the folder is made if missing). Resolves with the size of the
   * file it replaced when `needSize` (null: there was none), else null.
   */
  async write(dir: string, name: string, tmp: string, parts: readonly Uint8Array[], needSize: boolean): Promise<number | null> {
    return (await this.#enqueue({ parts, tmp, dir, name, needSize })).before;
  }

  /**
   * Composes `deltas` onto `start` (undefined: no item) on the thread, as
   * composeItem does, and writes the result to `<dir>/<name>` like `write`;
   * nothing is written when no delta applies. The main thread only copies
   * the payloads; decoding, appending, encoding and checksumming happen there.
   */
  async compose(
    dir: string,
    name: string,
    tmp: string,
    item: { bucketKey: string; itemKey: string; start: ItemRecord | undefined; deltas: readonly ItemRecord[] },
    needSize: boolean,
  ): Promise<ComposedFile> {
    const { bucketKey, itemKey, start, deltas } = item;
    // A tombstone's payload is empty; it composes as an empty list.
    const parts = [...(start === undefined || start.tombstone ? [] : [start.payload]), ...deltas.map((d) => d.payload)];
    const compose: ComposeOrder = {
      bucketKey,
      itemKey,
      start: start === undefined ? null : { version: start.version, tombstone: start.tombstone, encoding: start.encoding, length: start.tombstone ? 0 : start.payload.byteLength },
      deltas: deltas.map((d) => ({ version: d.version, length: d.payload.byteLength })),
    };
    const { before, composed } = await this.#enqueue({ parts, tmp, dir, name, needSize, compose });
    if (composed === undefined) return { before, record: undefined, applied: 0, fileBytes: 0 };
    const record: ItemRecord = { bucketKey, itemKey, version: composed.version, tombstone: false, encoding: 'msgpack', payload: new Uint8Array(composed.payload) };
    return { before, record, applied: composed.applied, fileBytes: composed.fileBytes };
  }

  #enqueue(file: Omit<Waiting, 'resolve' | 'reject'>): Promise<{ before: number | null; composed?: ComposedOnThread }> {
    if (this.#closed) return Promise.reject(fileError('EIO', 'the item-file thread is closed'));
    return new Promise((resolve, reject) => {
      if (this.#queue.length === 0) setImmediate(() => this.#flush());
      // Added to the caller's literal, not spread into a copy (a new hidden class per file on Node 20).
      this.#queue.push(Object.assign(file, { resolve, reject }));
    });
  }

  #flush(): void {
    const files = this.#queue;
    this.#queue = [];
    if (files.length === 0) return;
    const length = files.reduce((n, f) => f.parts.reduce((m, p) => m + p.byteLength, n), 0);
    const spare = this.#spare !== null && this.#spare.byteLength >= length ? this.#spare : null;
    this.#spare = null;
    const bytes = spare === null ? new Uint8Array(Math.max(length, 64 * 1024)) : new Uint8Array(spare, 0, length);
    const described: FileBatch['files'] = [];
    let offset = 0;
    for (const file of files) {
      const start = offset;
      for (const part of file.parts) {
        bytes.set(part, offset);
        offset += part.byteLength;
      }
      described.push({ offset: start, length: offset - start, tmp: file.tmp, dir: file.dir, name: file.name, needSize: file.needSize, ...(file.compose === undefined ? {} : { compose: file.compose }) });
    }
    const id = this.#nextId++;
    this.#sent.set(id, files);
    let thread: Worker;
    try {
      thread = this.#threadNow();
      thread.ref();
      thread.postMessage({ id, bytes: bytes.buffer, files: described } satisfies FileBatch, [bytes.buffer]);
    } catch (err) {
      this.#sent.delete(id);
      for (const file of files) file.reject(fileError('EIO', `cannot hand files to the item-file thread: ${(err as Error).message}`));
      this.#maybeIdle();
    }
  }

  #threadNow(): Worker {
    if (this.#thread !== null) return this.#thread;
    const thread = new Worker(THREAD_FILE, { resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB } });
    thread.on('message', (answer: { id: number; outcomes: FileOutcome[]; bytes: ArrayBuffer }) => this.#answered(answer));
    thread.on('error', (err: Error) => this.#lost(thread, err.message));
    thread.on('exit', (code: number) => this.#lost(thread, `exited with code ${code}`));
    this.#thread = thread;
    return thread;
  }

  #answered({ id, outcomes, bytes }: { id: number; outcomes: FileOutcome[]; bytes: ArrayBuffer }): void {
    if (bytes.byteLength <= SPARE_MAX_BYTES && (this.#spare === null || bytes.byteLength > this.#spare.byteLength)) this.#spare = bytes;
    const files = this.#sent.get(id);
    if (files === undefined) return;
    this.#sent.delete(id);
    files.forEach((file, i) => {
      const outcome = outcomes[i];
      if (outcome !== undefined && 'before' in outcome) file.resolve(outcome);
      else file.reject(fileError(outcome?.error.code ?? 'EIO', outcome?.error.message ?? 'the item-file thread gave no answer'));
    });
    this.#maybeIdle();
  }

  /** The thread died: everything it had fails; the next write starts another. */
  #lost(thread: Worker, why: string): void {
    if (this.#thread !== thread) return;
    this.#thread = null;
    for (const files of this.#sent.values()) for (const file of files) file.reject(fileError('EIO', `the item-file thread stopped: ${why}`));
    this.#sent.clear();
    this.#maybeIdle();
  }

  #maybeIdle(): void {
    if (this.#sent.size > 0) return;
    this.#thread?.unref();
    if (this.#queue.length === 0) for (const wake of this.#idle.splice(0)) wake();
  }

  /** Refuses new writes, waits for those under way, and stops the thread. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sent.size > 0 || this.#queue.length > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    const thread = this.#thread;
    this.#thread = null;
    await thread?.terminate();
  }
}
