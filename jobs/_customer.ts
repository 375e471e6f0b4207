/**
 * Shared by the customer jobs (a helper module: its name starts with "_", so
 * it is not a job). A customer bucket (key: the customer reference) holds
 * one item per record type, each a list of records:
 *
 *   "johndoe", "contacts"     [{ id, name, email, addedAt }, ...]
 *   "johndoe", "orders"       [{ id, description, amount, addedAt }, ...]
 *   "johndoe", "favourites"   [{ id, url, title, addedAt }, ...]
 */
export const RECORD_TYPES = ['contacts', 'orders', 'favourites'] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

export interface CustomerRecord {
  id: number;
  addedAt: Date;
  [field: string]: unknown;
}

export function assertRecordType(type: unknown): asserts type is RecordType {
  if (!RECORD_TYPES.includes(type as RecordType)) {
    throw new Error(`type must be one of ${RECORD_TYPES.join(', ')} (got ${JSON.stringify(type)})`);
  }
}
