/**
 * customer-add: appends a record to one of a customer's lists.
 *
 *   grex submit johndoe customer-add '{"type": "contacts", "record": {"name": "Ann", "email": "ann@example.com"}}'
 *
 * Returns the stored record (with its id and addedAt) and the list's length.
 */
import { defineJob } from 'grex/job';
import { assertRecordType, type CustomerRecord, type RecordType } from './_customer.ts';

interface AddData {
  type: RecordType;
  record: Record<string, unknown>;
}

export default defineJob(async (ctx, data: AddData) => {
  assertRecordType(data?.type);
  if (typeof data.record !== 'object' || data.record === null || Array.isArray(data.record)) {
    throw new Error('record must be an object');
  }
  // #region append
  // The list is the cached, decoded object (read for the last id). ctx.append adds to it
  // in place and stores and replicates only the new record, not the whole list.
  const list = (await ctx.get<CustomerRecord[]>(data.type)) ?? [];
  const record: CustomerRecord = { ...data.record, id: (list.at(-1)?.id ?? 0) + 1, addedAt: new Date() };
  const count = await ctx.append(data.type, [record]);
  // #endregion append
  return { record, count };
});
