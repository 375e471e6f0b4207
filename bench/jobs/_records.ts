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
