/**
 * customer-list: a customer's records, of one type or of every type.
 *
 *   grex submit johndoe customer-list '{"type": "orders"}'   ->  { "orders": [...] }
 *   grex submit johndoe customer-list                        ->  { "contacts": [...], "orders": [...], "favourites": [...] }
 */
import { defineJob } from 'grex/job';
import { assertRecordType, RECORD_TYPES, type CustomerRecord, type RecordType } from './_customer.ts';

export default defineJob(async (ctx, data: { type?: RecordType } | null) => {
  const types = data?.type === undefined ? RECORD_TYPES : [data.type];
  const lists: Partial<Record<RecordType, CustomerRecord[]>> = {};
  for (const type of types) {
    assertRecordType(type);
    lists[type] = (await ctx.get<CustomerRecord[]>(type)) ?? [];
  }
  return lists;
});
