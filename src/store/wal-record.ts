/**
 * One commit in the write-ahead log: the item records of one job (or one
 * direct write) of one flock, applied together or not at all.
 *
 *   0  u32  magic "GRXF"
 *   4  u32  body byte length
 *   8  u32  CRC-32 of the body's framing: every byte of the body except the
 *           records' payloads (each record's head holds its payload's CRC-32)
 *  12  body: u32 flock, u32 record count, then per record u32 length + an
 *      encoded item record (item-record.ts: head, then payload)
 *
 * So a large payload is written to the log as it is (no copy, no second
 * checksum pass over it), and still nothing in a commit goes unchecked: the
 * framing checksum covers the heads, and each head's checksum covers its
 * payload. Logs written before this format ("GRXW": one CRC-32 over the
 * whole body) are still read.
 *
 * A commit whose bytes are incomplete or fail a checksum was never
 * acknowledged (the log is fsynced after whole commits): replay stops there.
 * Zero bytes from a commit's start to the end of the segment are the end:
 * the log grows its open segment ahead of the appends (write-ahead-log.ts).
 */
import { crc32 } from 'node:zlib';
import { decodeItemRecord, encodeItemRecordParts, HEADER_FIXED_BYTES, type ItemRecord } from './item-record.js';

const MAGIC = 0x46585247; // "GRXF" as a little-endian u32
/** The first format: the CRC-32 covers the whole body, payloads included. */
const MAGIC_WHOLE = 0x57585247; // "GRXW"
export const WAL_HEADER_BYTES = 12;
/** Payloads from this size on are written from their own buffers; smaller ones are copied into the framing. */
const GATHER_BYTES_MAX = 16 * 1024;

export interface WalCommit {
  flock: number;
  records: ItemRecord[];
}

/**
 * A commit's bytes as buffers to write one after the other (writev): the
 * framing, with small payloads copied in, and large payloads as they are.
 */
export function encodeWalCommitParts(flock: number, records: readonly ItemRecord[]): Uint8Array[] {
  const parts = records.map(encodeItemRecordParts);
  // Everything but the large payloads goes into one buffer, in order, with gaps where those go.
  let gathered = WAL_HEADER_BYTES + 8;
  let bodyLength = 8;
  for (const [head, payload] of parts) {
    gathered += 4 + head.length + (payload.length < GATHER_BYTES_MAX ? payload.length : 0);
    bodyLength += 4 + head.length + payload.length;
  }
  const frame = Buffer.allocUnsafe(gathered);
  frame.writeUInt32LE(MAGIC, 0);
  frame.writeUInt32LE(bodyLength, 4);
  frame.writeUInt32LE(flock, WAL_HEADER_BYTES);
  frame.writeUInt32LE(parts.length, WAL_HEADER_BYTES + 4);
  let crc = crc32(frame.subarray(WAL_HEADER_BYTES, WAL_HEADER_BYTES + 8));
  const out: Uint8Array[] = [];
  let from = 0; // start of the framing not yet in `out`
  let at = WAL_HEADER_BYTES + 8;
  for (const [head, payload] of parts) {
    frame.writeUInt32LE(head.length + payload.length, at);
    head.copy(frame, at + 4);
    crc = crc32(frame.subarray(at, at + 4 + head.length), crc);
    at += 4 + head.length;
    if (payload.length < GATHER_BYTES_MAX) {
      frame.set(payload, at);
      at += payload.length;
    } else {
      out.push(frame.subarray(from, at), payload);
      from = at;
    }
  }
  frame.writeUInt32LE(crc, 8);
  if (from < at) out.push(frame.subarray(from, at));
  return out;
}

/** A commit's bytes in one buffer (the parts concatenated). */
export function encodeWalCommit(flock: number, records: readonly ItemRecord[]): Buffer {
  return Buffer.concat(encodeWalCommitParts(flock, records));
}

export type WalDecodeResult =
  | { kind: 'commit'; commit: WalCommit; next: number }
  | { kind: 'end' }
  /** Bytes that are not a whole, valid commit: the torn tail of an unacknowledged append. */
  | { kind: 'torn'; at: number; why: string };

/** Whether every byte from `offset` on is zero (the preallocated tail of a segment). */
function zeroFrom(bytes: Buffer, offset: number): boolean {
  for (let i = offset; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Decodes the commit starting at `offset` of a segment's bytes. */
export function decodeWalCommit(bytes: Buffer, offset: number, where: string): WalDecodeResult {
  if (offset === bytes.length || (bytes[offset] === 0 && zeroFrom(bytes, offset))) return { kind: 'end' };
  if (bytes.length - offset < WAL_HEADER_BYTES) return { kind: 'torn', at: offset, why: 'partial header' };
  const magic = bytes.readUInt32LE(offset);
  if (magic !== MAGIC && magic !== MAGIC_WHOLE) return { kind: 'torn', at: offset, why: 'bad magic' };
  const bodyLength = bytes.readUInt32LE(offset + 4);
  const bodyStart = offset + WAL_HEADER_BYTES;
  const end = bodyStart + bodyLength;
  if (bodyLength < 8 || end > bytes.length) return { kind: 'torn', at: offset, why: 'partial body' };
  const body = bytes.subarray(bodyStart, end);
  const stored = bytes.readUInt32LE(offset + 8);
  if (magic === MAGIC_WHOLE && crc32(body) !== stored) return { kind: 'torn', at: offset, why: 'checksum mismatch' };
  const count = body.readUInt32LE(4);
  // Where each record lies in the body; the framing checksum is computed on the way.
  const spans: [number, number][] = [];
  let crc = crc32(body.subarray(0, 8));
  let at = 8;
  for (let i = 0; i < count; i++) {
    if (at + 4 > body.length) return { kind: 'torn', at: offset, why: 'record count beyond body' };
    const length = body.readUInt32LE(at);
    if (at + 4 + length > body.length) return { kind: 'torn', at: offset, why: 'record beyond body' };
    if (magic === MAGIC) {
      if (length < HEADER_FIXED_BYTES) return { kind: 'torn', at: offset, why: 'record shorter than its header' };
      const headEnd = at + 4 + HEADER_FIXED_BYTES + body.readUInt16LE(at + 4 + 6) + body.readUInt16LE(at + 4 + 8);
      if (headEnd > at + 4 + length) return { kind: 'torn', at: offset, why: 'record keys beyond record' };
      crc = crc32(body.subarray(at, headEnd), crc);
    }
    spans.push([at + 4, at + 4 + length]);
    at += 4 + length;
  }
  if (magic === MAGIC && (at !== body.length || crc !== stored)) return { kind: 'torn', at: offset, why: 'checksum mismatch' };
  const records: ItemRecord[] = [];
  for (const [from, to] of spans) {
    const recordBytes = body.subarray(from, to);
    if (magic === MAGIC_WHOLE) {
      // The body passed its checksum: a record that fails its own is a bug, not a torn write.
      records.push(decodeItemRecord(recordBytes, `${where}@${offset}`));
      continue;
    }
    try {
      records.push(decodeItemRecord(recordBytes, `${where}@${offset}`));
    } catch (err) {
      // The framing is whole but a payload is not what its head says: written only in part.
      return { kind: 'torn', at: offset, why: `record ${(err as Error).message}` };
    }
  }
  return { kind: 'commit', commit: { flock: body.readUInt32LE(0), records }, next: end };
}

