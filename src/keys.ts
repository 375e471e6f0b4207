/**
 * Bucket and item keys, job names, and the bucket -> flock hash.
 *
 * A key is 1–256 bytes of well-formed UTF-8 without NUL. Anything else is
 * refused at the edge (HTTP, in-process submit) with GREX_ERR_KEY_INVALID, so
 * the store and the cluster only ever see valid keys.
 */
import { GrexError } from './errors.js';

export const KEY_MAX_BYTES = 256;
export const JOB_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const DEFAULT_FLOCKS = 1024;
export const MAX_FLOCKS = 1 << 20;

/** Returns a reason the key is invalid, or null when it is valid. */
export function keyProblem(key: unknown): string | null {
  if (typeof key !== 'string') return 'must be a string';
  if (key.length === 0) return 'must not be empty';
  if (!key.isWellFormed()) return 'must be well-formed UTF-8 (no lone surrogates)';
  if (key.includes('\0')) return 'must not contain NUL';
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > KEY_MAX_BYTES) return `must be at most ${KEY_MAX_BYTES} bytes of UTF-8 (is ${bytes})`;
  return null;
}

function assertKey(kind: 'bucketKey' | 'itemKey', key: unknown): asserts key is string {
  const problem = keyProblem(key);
  if (problem !== null) {
    throw new GrexError('GREX_ERR_KEY_INVALID', `${kind} ${problem}`, { [kind]: typeof key === 'string' ? key.slice(0, 300) : null });
  }
}

export function assertBucketKey(key: unknown): asserts key is string {
  assertKey('bucketKey', key);
}

export function assertItemKey(key: unknown): asserts key is string {
  assertKey('itemKey', key);
}

export function isJobName(name: unknown): name is string {
  return typeof name === 'string' && JOB_NAME_PATTERN.test(name);
}

export function assertJobName(name: unknown): asserts name is string {
  if (!isJobName(name)) {
    throw new GrexError(
      'GREX_ERR_JOB_NAME_INVALID',
      `job name ${JSON.stringify(String(name).slice(0, 100))} must match ${JOB_NAME_PATTERN.source}`,
    );
  }
}

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a over bytes. */
export function fnv1a32Bytes(bytes: Uint8Array): number {
  let hash = FNV_OFFSET_BASIS;
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i]!;
    hash = Math.imul(hash, FNV_PRIME);
  }
  return hash >>> 0;
}

/** 32-bit FNV-1a over the UTF-8 bytes of a string. */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    // Hash the UTF-8 encoding without allocating a Buffer: this runs once per job.
    if (code < 0x80) {
      hash = Math.imul(hash ^ code, FNV_PRIME);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (code < 0x800) {
      hash = Math.imul(hash ^ (0xc0 | (code >> 6)), FNV_PRIME);
    } else if (code < 0x10000) {
      if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd; // lone surrogate, as Buffer.from encodes it
      hash = Math.imul(hash ^ (0xe0 | (code >> 12)), FNV_PRIME);
      hash = Math.imul(hash ^ (0x80 | ((code >> 6) & 0x3f)), FNV_PRIME);
    } else {
      hash = Math.imul(hash ^ (0xf0 | (code >> 18)), FNV_PRIME);
      hash = Math.imul(hash ^ (0x80 | ((code >> 12) & 0x3f)), FNV_PRIME);
      hash = Math.imul(hash ^ (0x80 | ((code >> 6) & 0x3f)), FNV_PRIME);
    }
    hash = Math.imul(hash ^ (0x80 | (code & 0x3f)), FNV_PRIME);
  }
  return hash >>> 0;
}

export function isValidFlockCount(flocks: number): boolean {
  return Number.isInteger(flocks) && flocks >= 1 && flocks <= MAX_FLOCKS && (flocks & (flocks - 1)) === 0;
}

/** The flock of a bucket: `fnv1a32(bucketKey) & (flocks - 1)`; flocks is a power of two. */
export function flockOf(bucketKey: string, flocks: number): number {
  return fnv1a32(bucketKey) & (flocks - 1);
}
