/**
 * The on-disk (and in-memory) form of one stored item.
 *
 * Layout, little-endian, 36-byte fixed header:
 *
 *   0  "GRXI"        magic
 *   4  u8            format (1)
 *   5  u8            flags: bit 0 tombstone, bit 1 payload is msgpack, bit 2 purge (log only),
 *                    bit 3 delta (log and bleets only: the payload is a change, item-delta.ts)
 *   6  u16           bucketKey byte length
 *   8  u16           itemKey byte length
 *  10  u16           reserved (0)
 *  12  u32           term
 *  16  u32, u32      seq (high 21 bits, low 32 bits)
 *  24  u32           payload byte length
 *  28  u32           CRC-32 of the payload
 *  32  u32           CRC-32 of bytes 0..31 and the two keys
 *  36  bucketKey, itemKey (UTF-8), payload
 *
 * The keys are stored in the record so that a file is self-describing (file
 * names of long keys are hashes) and a misplaced file is detected. Two
 * checksums let a listing verify headers without reading payloads; a read
 * verifies both and never returns bytes that fail (GREX_ERR_STORE_CORRUPT).
 */
import { crc32 } from 'node:zlib';
import { GrexError } from '../errors.js';
import type { Version } from './version.js';

export type ItemEncoding = 'msgpack' | 'raw';

export interface ItemRecord {
  readonly bucketKey: string;
  readonly itemKey: string;
  readonly version: Version;
  readonly tombstone: boolean;
  readonly encoding: ItemEncoding;
  /** The item's bytes; empty for a tombstone. */
  readonly payload: Uint8Array;
  /**
   * Not an item but an order to remove one entirely (repair by the active
   * node, tombstone collection). Only ever in the write-ahead log.
   */
  readonly purge?: boolean;
  /**
   * Not the item but a change to it (item-delta.ts: values appended to a
   * list item), valid only on top of the version it names as its base.
   * Only ever in the write-ahead log and in replication bleets: item files
   * and reads always hold whole items.
   */
  readonly delta?: boolean;
}

/** What a listing knows of an item without reading its payload. */
export interface ItemHeader {
  readonly bucketKey: string;
  readonly itemKey: string;
  readonly version: Version;
  readonly tombstone: boolean;
  readonly encoding: ItemEncoding;
  readonly size: number;
  /** The file is damaged: its header fails its checksum (listings only). */
  readonly corrupt?: boolean;
}

const MAGIC = 0x49585247; // "GRXI" read as a little-endian u32
const FORMAT = 1;
const FLAG_TOMBSTONE = 1;
const FLAG_MSGPACK = 2;
const FLAG_PURGE = 4;
const FLAG_DELTA = 8;
export const HEADER_FIXED_BYTES = 36;
/** Enough to read any header and both keys (each at most 256 bytes). */
export const HEADER_MAX_BYTES = HEADER_FIXED_BYTES + 2 * 256;
const SEQ_SPLIT = 0x100000000;

/**
 * Heads (fixed header and keys) of records already encoded or decoded, by
 * record: a record is logged, replicated and written to its file, and its
 * payload's checksum is computed once for all of them. Records are never
 * changed after they are made (a changed item is a new record), nor are
 * their payload bytes.
 */
const heads = new WeakMap<ItemRecord, Buffer>();

/** The record's bytes up to its payload: the fixed header and both keys (see the layout above). */
export function encodeItemHead(record: ItemRecord): Buffer {
  const known = heads.get(record);
  if (known !== undefined) return known;
  const bucketBytes = Buffer.from(record.bucketKey, 'utf8');
  const itemBytes = Buffer.from(record.itemKey, 'utf8');
  const payload = payloadOf(record);
  const keysEnd = HEADER_FIXED_BYTES + bucketBytes.length + itemBytes.length;
  const out = Buffer.allocUnsafe(keysEnd);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt8(FORMAT, 4);
  const flags =
    (record.tombstone ? FLAG_TOMBSTONE : 0) |
    (record.encoding === 'msgpack' ? FLAG_MSGPACK : 0) |
    (record.purge === true ? FLAG_PURGE : 0) |
    (record.delta === true ? FLAG_DELTA : 0);
  out.writeUInt8(flags, 5);
  out.writeUInt16LE(bucketBytes.length, 6);
  out.writeUInt16LE(itemBytes.length, 8);
  out.writeUInt16LE(0, 10);
  out.writeUInt32LE(record.version.term, 12);
  out.writeUInt32LE(Math.floor(record.version.seq / SEQ_SPLIT), 16);
  out.writeUInt32LE(record.version.seq % SEQ_SPLIT, 20);
  out.writeUInt32LE(payload.length, 24);
  out.writeUInt32LE(crc32(payload), 28);
  bucketBytes.copy(out, HEADER_FIXED_BYTES);
  itemBytes.copy(out, HEADER_FIXED_BYTES + bucketBytes.length);
  out.writeUInt32LE(crc32(out.subarray(HEADER_FIXED_BYTES, keysEnd), crc32(out.subarray(0, 32))), 32);
  heads.set(record, out);
  return out;
}

/** The bytes a record stores after its head: none for tombstones and purges. */
export function payloadOf(record: ItemRecord): Uint8Array {
  return record.tombstone || record.purge === true ? EMPTY : record.payload;
}

const EMPTY = new Uint8Array(0);

/**
 * A record's encoding as its head and its payload, which is not copied:
 * written one after the other (writev) they are `encodeItemRecord(record)`.
 */
export function encodeItemRecordParts(record: ItemRecord): [Buffer, Uint8Array] {
  return [encodeItemHead(record), payloadOf(record)];
}

/** A record's encoding in one buffer of its own (the payload copied in). */
export function encodeItemRecord(record: ItemRecord): Buffer {
  const [head, payload] = encodeItemRecordParts(record);
  const out = Buffer.allocUnsafe(head.length + payload.length);
  head.copy(out, 0);
  out.set(payload, head.length);
  return out;
}

function corrupt(where: string, why: string): GrexError {
  return new GrexError('GREX_ERR_STORE_CORRUPT', `stored item ${where} is corrupt: ${why}`);
}

/** Decodes and verifies a header (the first bytes of a record); `where` names the item in errors. */
export function decodeItemHeader(bytes: Uint8Array, where: string): ItemHeader & { payloadOffset: number; purge: boolean; delta: boolean } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < HEADER_FIXED_BYTES) throw corrupt(where, `only ${buf.length} bytes`);
  if (buf.readUInt32LE(0) !== MAGIC) throw corrupt(where, 'bad magic');
  if (buf.readUInt8(4) !== FORMAT) throw corrupt(where, `unknown format ${buf.readUInt8(4)}`);
  const bucketLength = buf.readUInt16LE(6);
  const itemLength = buf.readUInt16LE(8);
  const keysEnd = HEADER_FIXED_BYTES + bucketLength + itemLength;
  if (bucketLength > 256 || itemLength > 256 || buf.length < keysEnd) throw corrupt(where, 'truncated header');
  const headerCrc = crc32(buf.subarray(HEADER_FIXED_BYTES, keysEnd), crc32(buf.subarray(0, 32)));
  if (headerCrc !== buf.readUInt32LE(32)) throw corrupt(where, 'header checksum mismatch');
  const flags = buf.readUInt8(5);
  return {
    bucketKey: buf.toString('utf8', HEADER_FIXED_BYTES, HEADER_FIXED_BYTES + bucketLength),
    itemKey: buf.toString('utf8', HEADER_FIXED_BYTES + bucketLength, keysEnd),
    version: { term: buf.readUInt32LE(12), seq: buf.readUInt32LE(16) * SEQ_SPLIT + buf.readUInt32LE(20) },
    tombstone: (flags & FLAG_TOMBSTONE) !== 0,
    encoding: (flags & FLAG_MSGPACK) !== 0 ? 'msgpack' : 'raw',
    size: buf.readUInt32LE(24),
    payloadOffset: keysEnd,
    purge: (flags & FLAG_PURGE) !== 0,
    delta: (flags & FLAG_DELTA) !== 0,
  };
}

/**
 * Decodes and verifies a whole record. The payload is a view into `bytes`
 * (no copy). `expect` names the keys the caller asked for: a record for other
 * keys (a misplaced file) is corrupt too.
 */
export function decodeItemRecord(
  bytes: Uint8Array,
  where: string,
  expect?: { bucketKey: string; itemKey: string },
): ItemRecord {
  const header = decodeItemHeader(bytes, where);
  const end = header.payloadOffset + header.size;
  if (bytes.length !== end) throw corrupt(where, `length ${bytes.length}, header says ${end}`);
  return verifiedRecord(header, bytes.subarray(0, header.payloadOffset), bytes.subarray(header.payloadOffset, end), where, expect);
}

/**
 * Decodes and verifies a record that came as its head and its payload
 * (encodeItemRecordParts; a bleet carries a large payload on its own). The
 * payload is not copied; it is verified like a whole record's.
 */
export function decodeItemRecordParts(
  head: Uint8Array,
  payload: Uint8Array,
  where: string,
  expect?: { bucketKey: string; itemKey: string },
): ItemRecord {
  const header = decodeItemHeader(head, where);
  if (head.length !== header.payloadOffset) throw corrupt(where, `head of ${head.length} bytes, header says ${header.payloadOffset}`);
  if (payload.length !== header.size) throw corrupt(where, `payload of ${payload.length} bytes, header says ${header.size}`);
  return verifiedRecord(header, head, payload, where, expect);
}

/** A record as its bytes travel: whole, or as its head and payload. */
export type RecordBytes = Uint8Array | readonly [head: Uint8Array, payload: Uint8Array];

/** decodeItemRecord or decodeItemRecordParts, whichever form `bytes` has. */
export function decodeRecordBytes(bytes: RecordBytes, where: string, expect?: { bucketKey: string; itemKey: string }): ItemRecord {
  return bytes instanceof Uint8Array ? decodeItemRecord(bytes, where, expect) : decodeItemRecordParts(bytes[0], bytes[1], where, expect);
}

/** The record of a verified header, its head bytes and its payload, once the payload passes its checksum. */
function verifiedRecord(
  header: ReturnType<typeof decodeItemHeader>,
  head: Uint8Array,
  payload: Uint8Array,
  where: string,
  expect: { bucketKey: string; itemKey: string } | undefined,
): ItemRecord {
  const headView = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (crc32(payload) !== headView.readUInt32LE(28)) throw corrupt(where, 'payload checksum mismatch');
  if (expect !== undefined && (expect.bucketKey !== header.bucketKey || expect.itemKey !== header.itemKey)) {
    throw corrupt(where, 'record belongs to another item');
  }
  const record: { -readonly [K in keyof ItemRecord]: ItemRecord[K] } = {
    bucketKey: header.bucketKey,
    itemKey: header.itemKey,
    version: header.version,
    tombstone: header.tombstone,
    encoding: header.encoding,
    payload,
  };
  // Added, not spread into a copy: on Node 20 `{ ...fields, delta: true }` makes a new hidden class each time.
  if (header.delta) record.delta = true;
  else if (header.purge) record.purge = true;
  // Verified: encoding this record again reuses its head (a view of the bytes) and payload as they are
  // (unless the record was not encoded by encodeItemHead: a tombstone or purge that carries bytes).
  if (payloadOf(record).length === header.size) heads.set(record, headView);
  return record;
}
