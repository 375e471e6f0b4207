/**
 * The store as the rest of Grex sees it: reads, listings and commits of item
 * records over a Backend, plus per-flock metadata.
 *
 * `commit` is the single write path of the job pipeline. Today it writes
 * each record atomically through the backend; a write-ahead log with group
 * commit slots in here (records appended and fsynced once per batch, item
 * files written behind it) without changing callers.
 */
import { crc32 } from 'node:zlib';
import { GrexError } from '../errors.js';
import type { Backend } from './backend.js';
import type { ItemHeader, ItemRecord } from './item-record.js';

/** What a node keeps per flock across restarts. */
export interface FlockMeta {
  /** Highest leadership term this node used or promised for the flock. */
  term: number;
  /** Sequence numbers below this may have been used; a restart continues from here. */
  seqReserved: number;
}

export class ItemStore {
  readonly backend: Backend;

  constructor(backend: Backend) {
    this.backend = backend;
  }

  open(): Promise<void> {
    return this.backend.open();
  }

  close(): Promise<void> {
    return this.backend.close();
  }

  /** An item's record, tombstones included. */
  read(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    return this.backend.read(flock, bucketKey, itemKey);
  }

  /** An item's record, or undefined when it is absent or deleted. */
  async readLive(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    const record = await this.backend.read(flock, bucketKey, itemKey);
    return record === undefined || record.tombstone ? undefined : record;
  }

  /** Headers of a bucket's live items, sorted by itemKey. */
  async listLive(flock: number, bucketKey: string): Promise<ItemHeader[]> {
    const headers = await this.backend.list(flock, bucketKey);
    return headers.filter((h) => !h.tombstone).sort((a, b) => (a.itemKey < b.itemKey ? -1 : a.itemKey > b.itemKey ? 1 : 0));
  }

  /** Makes records durable (per the fsync policy); resolves only when they are. */
  commit(flock: number, records: readonly ItemRecord[]): Promise<void> {
    return this.backend.write(flock, records);
  }

  async readFlockMeta(flock: number): Promise<FlockMeta | undefined> {
    const bytes = await this.backend.readFlockMeta(flock);
    return bytes === undefined ? undefined : decodeFlockMeta(bytes, flock);
  }

  writeFlockMeta(flock: number, meta: FlockMeta): Promise<void> {
    return this.backend.writeFlockMeta(flock, encodeFlockMeta(meta));
  }
}

// Flock metadata: one line of JSON, then the CRC-32 of that line in hex.
function encodeFlockMeta(meta: FlockMeta): Uint8Array {
  const line = JSON.stringify({ term: meta.term, seqReserved: meta.seqReserved });
  return Buffer.from(`${line}\n${crc32(line).toString(16)}\n`, 'utf8');
}

function decodeFlockMeta(bytes: Uint8Array, flock: number): FlockMeta {
  const [line = '', sum = ''] = Buffer.from(bytes).toString('utf8').split('\n');
  const corrupt = () => new GrexError('GREX_ERR_STORE_CORRUPT', `metadata of flock ${flock} is corrupt`);
  if (crc32(line).toString(16) !== sum) throw corrupt();
  const value = JSON.parse(line) as Partial<FlockMeta>;
  if (!Number.isSafeInteger(value.term) || !Number.isSafeInteger(value.seqReserved)) throw corrupt();
  return { term: value.term!, seqReserved: value.seqReserved! };
}
