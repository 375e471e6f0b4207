/**
 * Item deltas: a change to an item that costs what the change costs, not
 * what the item costs. Today there is one kind, a list append (`ctx.append`):
 * values added at the end of a list item, which then keeps its last `keep`.
 *
 * A delta travels as an item record with the `delta` flag (item-record.ts),
 * versioned like any write, in the write-ahead log and in replication
 * bleets. It names its base: the version of the item it was made on. It is
 * applied only on top of exactly that version; a node holding another
 * version must get the whole item instead. Item files and every read hold
 * whole items: `composeItem` folds deltas into one.
 *
 * Payload of a delta record, little-endian:
 *
 *   0  u8    kind (1: list append)
 *   1  u8    reserved (0)
 *   2  u16   reserved (0)
 *   4  u32   base term
 *   8  u32   base seq, high 21 bits
 *  12  u32   base seq, low 32 bits
 *  16  u32   keep: the list keeps its last `keep` values (0: all)
 *  20  msgpack (itemCodec) array of the appended values
 *
 * Composing is deterministic, so every node and every replay of the log
 * arrives at the same bytes from the same base and deltas (msgpackr encodes
 * equal values to equal bytes): decode the base list, append, trim, encode.
 */
import { itemCodec, ownedBytes } from '../codec.js';
import { GrexError } from '../errors.js';
import type { ItemRecord } from './item-record.js';
import { compareVersions, NO_VERSION, type Version } from './version.js';

export const DELTA_HEADER_BYTES = 20;
const KIND_LIST_APPEND = 1;
const SEQ_SPLIT = 0x100000000;
/** Largest `keep` a delta can carry. */
export const MAX_KEEP = 0xffffffff;

export interface ListAppend {
  /** The version of the item this delta was made on (NO_VERSION: the item was absent). */
  base: Version;
  /** The list keeps its last `keep` values after the append; 0 keeps all. */
  keep: number;
  /** The appended values: a msgpack (itemCodec) array. */
  values: Uint8Array;
}

/** The payload of a list-append delta. */
export function encodeListAppend(delta: ListAppend): Uint8Array {
  const out = Buffer.allocUnsafe(DELTA_HEADER_BYTES + delta.values.byteLength);
  out.writeUInt8(KIND_LIST_APPEND, 0);
  out.writeUInt8(0, 1);
  out.writeUInt16LE(0, 2);
  out.writeUInt32LE(delta.base.term, 4);
  out.writeUInt32LE(Math.floor(delta.base.seq / SEQ_SPLIT), 8);
  out.writeUInt32LE(delta.base.seq % SEQ_SPLIT, 12);
  out.writeUInt32LE(delta.keep, 16);
  out.set(delta.values, DELTA_HEADER_BYTES);
  return out;
}

/** A little-endian uint32 of the payload (no Buffer made: deltas are read per record, replay reads 100,000s). */
function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16)) + bytes[at + 3]! * 0x1000000;
}

/** The base version of a delta's payload; throws GREX_ERR_STORE_CORRUPT if it is not one this version knows. */
function baseOf(payload: Uint8Array, where: string): Version {
  if (payload.byteLength < DELTA_HEADER_BYTES || payload[0] !== KIND_LIST_APPEND) {
    throw new GrexError('GREX_ERR_STORE_CORRUPT', `${where} is not a list-append delta`);
  }
  return { term: u32(payload, 4), seq: u32(payload, 8) * SEQ_SPLIT + u32(payload, 12) };
}

/** Reads a delta's payload; throws GREX_ERR_STORE_CORRUPT if it is not one this version knows. */
export function decodeListAppend(payload: Uint8Array, where = 'delta'): ListAppend {
  return { base: baseOf(payload, where), keep: u32(payload, 16), values: payload.subarray(DELTA_HEADER_BYTES) };
}

/** The version a delta record applies to. */
export function deltaBase(record: ItemRecord): Version {
  return baseOf(record.payload, 'delta');
}

/** How a delta relates to an item at version `current`. */
export type DeltaFit = 'applies' | 'held' | 'gap';

/**
 * `applies`: the delta was made on exactly this version. `held`: the item is
 * already at the delta's version or beyond (an item file written after the
 * delta was composed in). `gap`: the item lacks the delta's base.
 */
export function deltaFit(current: Version, delta: ItemRecord): DeltaFit {
  if (compareVersions(deltaBase(delta), current) === 0) return 'applies';
  return compareVersions(delta.version, current) <= 0 ? 'held' : 'gap';
}

function decodeList(bytes: Uint8Array): unknown[] {
  try {
    const value = itemCodec.unpack(bytes) as unknown;
    return Array.isArray(value) ? value : [];
  } catch {
    return [];
  }
}

export interface Composed {
  /** The item after the deltas that applied; undefined when there was no item and none applied. */
  record: ItemRecord | undefined;
  /** Deltas folded in. */
  applied: number;
  /** Deltas whose base the item did not have (`gap`): left out. */
  skipped: ItemRecord[];
}

/**
 * Folds deltas, oldest first, into an item (undefined: absent; a tombstone
 * counts as an empty list). A delta already held is passed over and one with
 * a gap is left out, so composing over an item file that already holds some
 * of the deltas gives the same item as composing over the older base.
 *
 * A base that is not a msgpack list composes as an empty list: the active
 * node refuses to append to such an item, so this only makes the outcome
 * the same on every node should one ever arrive.
 */
export function composeItem(base: ItemRecord | undefined, deltas: readonly ItemRecord[]): Composed {
  let version = base?.version ?? NO_VERSION;
  let list: unknown[] | null = null;
  let applied = 0;
  const skipped: ItemRecord[] = [];
  for (const delta of deltas) {
    const fit = deltaFit(version, delta);
    if (fit === 'held') continue;
    if (fit === 'gap') {
      skipped.push(delta);
      continue;
    }
    const { keep, values } = decodeListAppend(delta.payload);
    list ??= base === undefined || base.tombstone ? [] : decodeList(base.payload);
    for (const value of decodeList(values)) list.push(value);
    if (keep > 0 && list.length > keep) list.splice(0, list.length - keep);
    version = delta.version;
    applied++;
  }
  if (list === null) return { record: base, applied, skipped };
  const last = deltas.at(-1)!;
  return {
    record: {
      bucketKey: last.bucketKey,
      itemKey: last.itemKey,
      version,
      tombstone: false,
      encoding: 'msgpack',
      payload: ownedBytes(itemCodec.pack(list)),
    },
    applied,
    skipped,
  };
}
