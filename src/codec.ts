/**
 * The two msgpack dialects Grex speaks.
 *
 * - `itemCodec` encodes item values and in-process job data/results: msgpackr
 *   with record structures (compact lists of like objects) and its extra types,
 *   so Date, Map, Set, typed arrays and bigint survive a round trip. Each
 *   message carries its own structures: any msgpackr decoder reads it.
 * - `wireCodec` is plain MessagePack for HTTP clients in any language.
 *
 * Packr instances keep per-thread scratch buffers: every thread that imports
 * this module gets its own.
 */
import { Packr, Unpackr, type Options } from 'msgpackr';

// msgpackr writes JavaScript numbers as floats and bigints as 64-bit integers, so item
// values keep their type. Wire clients in other languages send 64-bit integers for
// plain numbers: those decode as numbers when they fit ('auto' is supported by
// msgpackr but missing from its type declarations).
const int64 = { int64AsType: 'auto' } as unknown as Options;

export const itemCodec = new Packr({ moreTypes: true });

export const wireCodec = new Packr({ ...int64, useRecords: false, mapsAsObjects: true });
const wireDecoder = new Unpackr({ ...int64, useRecords: false, mapsAsObjects: true });

export function decodeWire(bytes: Uint8Array): unknown {
  return wireDecoder.unpack(bytes);
}

/**
 * A copy of bytes in an ArrayBuffer of their own, safe to keep or transfer to
 * another thread. (Not `.slice()`: on a Buffer, which msgpackr and fs return,
 * that is a view sharing the original memory.)
 */
export function ownedBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/**
 * Bytes to keep that nothing else will write to (a request body): themselves
 * when they span an ArrayBuffer of their own (a large body joined from its
 * chunks is a new buffer), else a copy (a small one may share Node's pool
 * slab with other data, or be a view into a larger read buffer).
 */
export function bytesToKeep(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : ownedBytes(bytes);
}

/** Below this size a value is packed as usual and copied out: copying is cheap. */
export const PACK_IN_PLACE_MIN_BYTES = 64 * 1024;
/** msgpackr's scratch buffer after a pack in place (it grows it when needed). */
const SCRATCH_BYTES = 8192;

/**
 * A value packed with itemCodec into an ArrayBuffer of its own (to keep, or
 * to transfer to another thread) without copying it: given the size it
 * probably has (`expectedBytes`, e.g. the item's size last time), msgpackr
 * writes straight into a new buffer of a little more than that, which the
 * result views from its start; the buffer's tail is unused. A value that
 * does not fit is packed as usual and copied (ownedBytes). Either way
 * msgpackr is left writing to a scratch buffer of its own again (the module
 * keeps one write target for every Packr of the thread): never into the
 * result, and never over bytes an earlier pack returned.
 */
export function packItemOwned(value: unknown, expectedBytes?: number): Uint8Array {
  if (expectedBytes === undefined || !(expectedBytes >= PACK_IN_PLACE_MIN_BYTES)) return ownedBytes(itemCodec.pack(value));
  const room = Buffer.allocUnsafeSlow(Math.ceil(expectedBytes * 1.0625) + 4096);
  itemCodec.useBuffer(room);
  try {
    const packed = itemCodec.pack(value);
    return packed.buffer === room.buffer ? packed : ownedBytes(packed);
  } finally {
    itemCodec.useBuffer(Buffer.allocUnsafeSlow(SCRATCH_BYTES));
  }
}
