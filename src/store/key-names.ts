/**
 * Keys to file names and back.
 *
 * Any valid key (1–256 bytes of UTF-8, no NUL) maps to a name that is safe on
 * every common filesystem and can never leave its directory:
 *
 * - bytes of [a-z0-9_-] stay as they are, and so does "." except as the first
 *   character (so no name is ".", ".." or hidden);
 * - every other byte, upper-case letters included (case-insensitive
 *   filesystems would merge "A" and "a"), becomes "%XX" (upper-case hex);
 * - a name longer than NAME_MAX_CHARS becomes "~" + sha256 of the key; the
 *   full key is inside the item record, so such names are resolved by reading
 *   a header.
 *
 * Names the store itself uses begin with "." (temp and flock files) and never
 * collide with an encoded key.
 */
import { createHash } from 'node:crypto';

export const NAME_MAX_CHARS = 200;
const HASHED_PREFIX = '~';
const HEX = '0123456789ABCDEF';

function isPlainByte(byte: number, index: number): boolean {
  return (
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    byte === 0x5f || // _
    byte === 0x2d || // -
    (byte === 0x2e && index > 0) // . (not first)
  );
}

export function encodeKeyName(key: string): string {
  const bytes = Buffer.from(key, 'utf8');
  let name = '';
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    name += isPlainByte(byte, i) ? String.fromCharCode(byte) : '%' + HEX[byte >> 4]! + HEX[byte & 15]!;
    if (name.length > NAME_MAX_CHARS) return hashedName(bytes);
  }
  return name;
}

function hashedName(bytes: Buffer): string {
  return HASHED_PREFIX + createHash('sha256').update(bytes).digest('hex');
}

export function isHashedName(name: string): boolean {
  return name.startsWith(HASHED_PREFIX);
}

/**
 * The key a name stands for; null for hashed names (read the record) and for
 * names this encoding never produces (foreign files are ignored, not trusted).
 */
export function decodeKeyName(name: string): string | null {
  if (name.length === 0 || isHashedName(name)) return null;
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i);
    if (ch === 0x25) {
      const hi = HEX.indexOf(name[i + 1] ?? '');
      const lo = HEX.indexOf(name[i + 2] ?? '');
      if (hi < 0 || lo < 0) return null;
      bytes.push(hi * 16 + lo);
      i += 2;
    } else {
      bytes.push(ch);
    }
  }
  const key = Buffer.from(bytes).toString('utf8');
  // Only the canonical name of a key decodes: this rejects "A", "%61" and invalid UTF-8.
  return encodeKeyName(key) === name ? key : null;
}
