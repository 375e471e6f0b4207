/**
 * The deltas of one item waiting for its file, kept compactly: their
 * payloads back to back in one buffer, and per delta its version and log
 * segment as numbers. A hot item collects thousands of small deltas between
 * two file writes; as item records (objects, views, versions) each would
 * take ~800 bytes of memory, here ~150 (its payload and a few numbers).
 *
 * Records handed out by `records` are views into a buffer that is never
 * changed afterwards (growing or dropping allocates a new one), so they stay
 * valid while the chain moves on.
 */
import type { ItemRecord } from './item-record.js';
import type { Version } from './version.js';

/** Memory a delta takes besides its payload here (its numbers), for accounting. */
const DELTA_OVERHEAD_BYTES = 48;

const EMPTY = new Uint8Array(0);

export class DeltaChain {
  readonly bucketKey: string;
  readonly itemKey: string;
  #bytes: Uint8Array = EMPTY;
  #used = 0;
  /** End offset of each delta's payload in #bytes. */
  #ends: number[] = [];
  #terms: number[] = [];
  #seqs: number[] = [];
  #segments: number[] = [];

  constructor(bucketKey: string, itemKey: string) {
    this.bucketKey = bucketKey;
    this.itemKey = itemKey;
  }

  get length(): number {
    return this.#ends.length;
  }

  /** Payload bytes held. */
  get byteLength(): number {
    return this.#used;
  }

  /** Memory held, for accounting: the buffer (with its room to grow) and the numbers. */
  get heldBytes(): number {
    return this.#bytes.byteLength + this.length * DELTA_OVERHEAD_BYTES;
  }

  /** Adds a delta record (its payload is copied) and the log segment that holds it. */
  push(record: ItemRecord, segment: number): void {
    const size = record.payload.byteLength;
    if (this.#used + size > this.#bytes.byteLength) {
      const grown = new Uint8Array(Math.max(256, 2 * (this.#used + size)));
      grown.set(this.#bytes.subarray(0, this.#used));
      this.#bytes = grown;
    }
    this.#bytes.set(record.payload, this.#used);
    this.#used += size;
    this.#ends.push(this.#used);
    this.#terms.push(record.version.term);
    this.#seqs.push(record.version.seq);
    this.#segments.push(segment);
  }

  /** The version of the newest delta, if any. */
  lastVersion(): Version | undefined {
    const last = this.#ends.length - 1;
    return last < 0 ? undefined : { term: this.#terms[last]!, seq: this.#seqs[last]! };
  }

  /** The first `count` deltas (default all) as delta records, oldest first. */
  records(count = this.length): ItemRecord[] {
    const records: ItemRecord[] = [];
    for (let i = 0; i < count; i++) {
      records.push({
        bucketKey: this.bucketKey,
        itemKey: this.itemKey,
        version: { term: this.#terms[i]!, seq: this.#seqs[i]! },
        tombstone: false,
        encoding: 'msgpack',
        payload: this.#bytes.subarray(i === 0 ? 0 : this.#ends[i - 1]!, this.#ends[i]!),
        delta: true,
      });
    }
    return records;
  }

  /** The log segments of the first `count` deltas (default all). */
  segments(count = this.length): number[] {
    return this.#segments.slice(0, count);
  }

  /** Forgets the first `count` deltas (they are in the item file now). */
  dropFirst(count: number): void {
    if (count <= 0) return;
    const from = count >= this.length ? this.#used : this.#ends[count - 1]!;
    this.#bytes = this.#bytes.slice(from, this.#used);
    this.#used -= from;
    this.#ends = this.#ends.slice(count).map((end) => end - from);
    this.#terms = this.#terms.slice(count);
    this.#seqs = this.#seqs.slice(count);
    this.#segments = this.#segments.slice(count);
  }
}
