/**
 * What an ItemStore remembers of the item files it wrote or read lately, so
 * that a hot item, which goes from pending to its file and back every apply
 * delay, needs no read of its file: its header (the version a delta must
 * build on, its size) and, within a memory budget, the whole record the
 * apply loop composed (the next deltas build on that).
 *
 * Who changes what: the apply loop (apply-loop.ts) sets what it wrote and
 * counts `applies`; reads and commits remember what they read (`remember`),
 * only if nothing was pending or written meanwhile.
 */
import { LRUCache } from 'lru-cache';
import type { ItemHeader, ItemRecord } from './item-record.js';
import { heldBytes, type PendingItems } from './pending-items.js';
import { compareVersions } from './version.js';

/** Headers of item files this store wrote last, remembered (see headers). */
const WRITTEN_HEADERS_MAX = 16_384;
/** Share of pendingBytesMax kept as bodies of written items (bodies). */
const WRITTEN_BODIES_SHARE = 1 / 4;

export class WrittenItems {
  /** There is a log (no apply loop without one, and then nothing is remembered). */
  readonly #logged: boolean;
  readonly #pending: PendingItems;
  /**
   * Headers of item files with nothing pending, as this store last wrote or
   * read them ('absent': no file), so that the version a delta must build on
   * is known without reading the file: a hot item goes from pending to its
   * file and back every apply delay. The apply loop sets what it wrote; a
   * read sets what it found only if nothing was pending or written meanwhile.
   * Read only when nothing is pending.
   */
  readonly headers = new LRUCache<string, ItemHeader | 'absent'>({ max: WRITTEN_HEADERS_MAX });
  /**
   * Whole records the apply loop composed and wrote lately (bounded in bytes):
   * the next deltas of a hot item build on this instead of reading its file
   * back. Valid only while headers names the same version (see body).
   */
  readonly bodies: LRUCache<string, ItemRecord> | null;
  /** Item files written or removed by the apply loop so far (see remember); counted by the apply loop. */
  applies = 0;

  constructor(pending: PendingItems, logged: boolean) {
    this.#pending = pending;
    this.#logged = logged;
    const bodiesBytes = Math.floor(pending.bytesMax * WRITTEN_BODIES_SHARE);
    this.bodies = bodiesBytes < 64 * 1024 ? null : new LRUCache<string, ItemRecord>({ maxSize: bodiesBytes, sizeCalculation: heldBytes });
  }

  /**
   * Remembers a header just read from an item file, unless the item has
   * records pending or the apply loop wrote any file during the read (the
   * read may be older than what it wrote).
   */
  remember(id: string, header: ItemHeader | undefined, appliesBefore: number): void {
    if (!this.#logged || this.applies !== appliesBefore || this.#pending.has(id) || this.headers.has(id)) return;
    this.headers.set(id, header ?? 'absent');
  }

  /** The record in an item's file, if the apply loop wrote it lately and still remembers it. */
  body(id: string): ItemRecord | undefined {
    const body = this.bodies?.get(id);
    if (body === undefined) return undefined;
    const written = this.headers.get(id);
    if (written === undefined || written === 'absent' || compareVersions(written.version, body.version) !== 0) {
      this.bodies!.delete(id);
      return undefined;
    }
    return body;
  }
}
