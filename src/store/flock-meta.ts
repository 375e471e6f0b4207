/**
 * What a node keeps per flock across restarts (FlockMeta) and how it is
 * stored: one line of JSON and its CRC-32, so that a damaged copy is told
 * apart from a valid one. ItemStore reads and writes it through its Backend.
 */
import { crc32 } from 'node:zlib';
import { GrexError } from '../errors.js';

/** What a node keeps per flock across restarts. */
export interface FlockMeta {
  /** Highest leadership term this node used or promised for the flock. */
  term: number;
  /** Sequence numbers below this may have been used; a restart continues from here. */
  seqReserved: number;
  /** This node herds the flock (holds it and counts toward its quorums); absent: false. */
  herding?: boolean;
  /**
   * The highest term whose active node's state this node's copy was made from (it won that
   * term's claim, or was promoted by that term's active node); absent: 0. See claim-round.ts.
   */
  basis?: number;
}

// Flock metadata: one line of JSON, then the CRC-32 of that line in hex.
export function encodeFlockMeta(meta: FlockMeta): Uint8Array {
  const line = JSON.stringify({
    term: meta.term,
    seqReserved: meta.seqReserved,
    ...(meta.herding === true ? { herding: true } : {}),
    ...(meta.basis !== undefined && meta.basis > 0 ? { basis: meta.basis } : {}),
  });
  return Buffer.from(`${line}\n${crc32(line).toString(16)}\n`, 'utf8');
}

export function decodeFlockMeta(bytes: Uint8Array, flock: number): FlockMeta {
  const [line = '', sum = ''] = Buffer.from(bytes).toString('utf8').split('\n');
  const corrupt = () => new GrexError('GREX_ERR_STORE_CORRUPT', `metadata of flock ${flock} is corrupt`);
  if (crc32(line).toString(16) !== sum) throw corrupt();
  let value: Partial<FlockMeta> | null;
  try {
    value = JSON.parse(line) as Partial<FlockMeta> | null;
  } catch {
    throw corrupt();
  }
  if (value === null || typeof value !== 'object' || !Number.isSafeInteger(value.term) || !Number.isSafeInteger(value.seqReserved)) {
    throw corrupt();
  }
  const basis = Number.isSafeInteger(value.basis) && value.basis! > 0 ? { basis: value.basis! } : {};
  return { term: value.term!, seqReserved: value.seqReserved!, ...(value.herding === true ? { herding: true } : {}), ...basis };
}
