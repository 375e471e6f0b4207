/**
 * The workload every system of the HTTP benchmark serves, defined once.
 *
 * Customers, each one list of records `{ description, other, amount, date }`
 * (about 61 bytes each in msgpackr). A write request appends one record and
 * keeps the newest `keep` (200); a read request asks for the list's summary
 * (record count and total amount). Requests name the customer by key
 * (`c<n>`); the body of a write is the record as JSON, date as ISO text.
 */
import { Packr } from 'msgpackr';
import { seededRandom } from '../src/cluster/seeded-random.js';
import type { BenchRecord, RecordBody } from './jobs/_records.js';

// The records the bench jobs keep, and how they travel in a request body (JSON).
export type { BenchRecord, RecordBody };

export interface ListSummary {
  count: number;
  total: number;
}

/** The same msgpackr settings as Grex's items (records, extra types), so every system encodes the same bytes. */
export const listCodec = new Packr({ moreTypes: true });

export const KEEP_RECORDS = 200;

export function customerKeys(customers: number): string[] {
  return Array.from({ length: customers }, (_, i) => `c${i + 1}`);
}

const WORDS = ['order', 'refund', 'invoice', 'credit', 'fee', 'adjustment', 'transfer', 'payment'];

function makeBody(rand: () => number, when: number): RecordBody {
  return {
    description: `${WORDS[Math.floor(rand() * WORDS.length)]} ${Math.floor(rand() * 100_000)}`,
    other: `ref-${Math.floor(rand() * 1e6).toString(36)}`,
    amount: Math.round(rand() * 1_000_000) / 100,
    date: new Date(when).toISOString(),
  };
}

export function toRecord(body: RecordBody): BenchRecord {
  return { description: body.description, other: body.other, amount: body.amount, date: new Date(body.date) };
}

/** Appends in place and drops the oldest records beyond `keep`. */
export function appendRecord(list: BenchRecord[], record: BenchRecord, keep = KEEP_RECORDS): number {
  list.push(record);
  if (list.length > keep) list.splice(0, list.length - keep);
  return list.length;
}

export function summarize(list: readonly BenchRecord[]): ListSummary {
  let total = 0;
  for (const record of list) total += record.amount;
  return { count: list.length, total: Math.round(total * 100) / 100 };
}

/** The seed list of one customer: `records` records, the same on every run. */
export function seedList(key: string, records: number): BenchRecord[] {
  let seed = 0;
  for (let i = 0; i < key.length; i++) seed = Math.imul(seed ^ key.charCodeAt(i), 0x01000193);
  const rand = seededRandom(seed);
  const start = Date.UTC(2026, 0, 1);
  return Array.from({ length: records }, (_, i) => toRecord(makeBody(rand, start + i * 60_000)));
}

/** The seed list of one customer, encoded as every system stores it. */
export function encodedSeedList(key: string, records: number): Uint8Array {
  return new Uint8Array(listCodec.pack(seedList(key, records)));
}

/** Request bodies to cycle through (made before the load, so the load generator only sends). */
export function recordBodies(count: number, seed = 42): string[] {
  const rand = seededRandom(seed);
  const now = Date.UTC(2026, 5, 1);
  return Array.from({ length: count }, (_, i) => JSON.stringify(makeBody(rand, now + i * 1000)));
}
