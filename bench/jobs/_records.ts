/**
 * Shared by the benchmark's jobs (a helper: its name starts with "_"). A
 * customer bucket holds one item, "records": the customer's list of
 * `{ description, other, amount, date }`, the newest 200 kept.
 */
export const ITEM = 'records';
export const KEEP_RECORDS = 200;

export interface BenchRecord {
  description: string;
  other: string;
  amount: number;
  date: Date;
}

export interface RecordBody {
  description: string;
  other: string;
  amount: number;
  date: string;
}

/** The original Grex's workload: a list of `records` records, the same on every call. */
export function originalList(records: number): BenchRecord[] {
  const start = Date.UTC(2013, 0, 1);
  return Array.from({ length: records }, (_, i) => ({
    description: `record ${i}`,
    other: `ref-${(i * 7919).toString(36)}`,
    amount: (i % 10_000) / 100,
    date: new Date(start + i * 1000),
  }));
}
