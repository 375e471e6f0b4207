/**
 * One commit in the write-ahead log: the item records of one job (or one
 * direct write) of one flock, applied together or not at all.
 *
 *   0  u32  magic "GRXW"
 *   4  u32  body byte length
 *   8  u32  CRC-32 of the body
 *  12  body: u32 flock, u32 record count, then per record u32 length + an
 *      encoded item record (item-record.ts, with its own checksums)
 *
 * A commit whose bytes are incomplete or fail the checksum was never
 * acknowledged (the log is fsynced after whole commits): replay stops there.
 */
import { crc32 } from 'node:zlib';
import { decodeItemRecord, encodeItemRecord, type ItemRecord } from './item-record.js';

const MAGIC = 0x57585247; // "GRXW" as a little-endian u32
export const WAL_HEADER_BYTES = 12;

export interface WalCommit {
  flock: number;
  records: ItemRecord[];
}

export function encodeWalCommit(flock: number, records: readonly ItemRecord[]): Buffer {
  const encoded = records.map(encodeItemRecord);
  const bodyLength = 8 + encoded.reduce((n, r) => n + 4 + r.length, 0);
  const out = Buffer.allocUnsafe(WAL_HEADER_BYTES + bodyLength);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(bodyLength, 4);
  let at = WAL_HEADER_BYTES;
  out.writeUInt32LE(flock, at);
  out.writeUInt32LE(encoded.length, at + 4);
  at += 8;
  for (const record of encoded) {
    out.writeUInt32LE(record.length, at);
    record.copy(out, at + 4);
    at += 4 + record.length;
  }
  out.writeUInt32LE(crc32(out.subarray(WAL_HEADER_BYTES)), 8);
  return out;
}

export type WalDecodeResult =
  | { kind: 'commit'; commit: WalCommit; next: number }
  | { kind: 'end' }
  /** Bytes that are not a whole, valid commit: the torn tail of an unacknowledged append. */
  | { kind: 'torn'; at: number; why: string };

/** Decodes the commit starting at `offset` of a segment's bytes. */
export function decodeWalCommit(bytes: Buffer, offset: number, where: string): WalDecodeResult {
  if (offset === bytes.length) return { kind: 'end' };
  if (bytes.length - offset < WAL_HEADER_BYTES) return { kind: 'torn', at: offset, why: 'partial header' };
  if (bytes.readUInt32LE(offset) !== MAGIC) return { kind: 'torn', at: offset, why: 'bad magic' };
  const bodyLength = bytes.readUInt32LE(offset + 4);
  const bodyStart = offset + WAL_HEADER_BYTES;
  const end = bodyStart + bodyLength;
  if (bodyLength < 8 || end > bytes.length) return { kind: 'torn', at: offset, why: 'partial body' };
  const body = bytes.subarray(bodyStart, end);
  if (crc32(body) !== bytes.readUInt32LE(offset + 8)) return { kind: 'torn', at: offset, why: 'checksum mismatch' };
  const flock = body.readUInt32LE(0);
  const count = body.readUInt32LE(4);
  const records: ItemRecord[] = [];
  let at = 8;
  for (let i = 0; i < count; i++) {
    if (at + 4 > body.length) return { kind: 'torn', at: offset, why: 'record count beyond body' };
    const length = body.readUInt32LE(at);
    if (at + 4 + length > body.length) return { kind: 'torn', at: offset, why: 'record beyond body' };
    // The body passed its checksum: a record that fails its own is a bug, not a torn write.
    records.push(decodeItemRecord(body.subarray(at + 4, at + 4 + length), `${where}@${offset}`));
    at += 4 + length;
  }
  return { kind: 'commit', commit: { flock, records }, next: end };
}
