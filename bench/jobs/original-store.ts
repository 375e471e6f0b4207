/**
 * original-store: the original Grex's own benchmark as a job. The bucket's
 * one item, "records", holds `data.records` records; each call changes one
 * record of the (cached, decoded) list and stores the whole item again, so
 * every call encodes all of its records (in the worker thread) and stores
 * the result durably on the flock's herders.
 *
 *   POST /buckets/bucket-0/jobs/original-store  {"records": 20000, "round": 7}  ->  { "result": { "count": 20000 } }
 */
import { defineJob } from 'grex/job';
import { ITEM, originalList, type BenchRecord } from './_records.ts';

export default defineJob(async (ctx, data: { records: number; round: number }) => {
  if (!Number.isInteger(data?.records) || data.records < 1) throw new Error('data.records must be a positive integer');
  let list = await ctx.get<BenchRecord[]>(ITEM);
  if (list === undefined || list.length !== data.records) list = originalList(data.records);
  const i = data.round % list.length;
  list[i] = { ...list[i]!, amount: data.round / 100 };
  ctx.put(ITEM, list);
  return { count: list.length };
});
