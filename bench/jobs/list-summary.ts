/**
 * list-summary: the customer's record count and total amount — the read of
 * the HTTP benchmark (changes nothing).
 */
import { defineJob } from 'grex/job';
import { ITEM, type BenchRecord } from './_records.ts';

export default defineJob(async (ctx) => {
  const list = (await ctx.get<BenchRecord[]>(ITEM)) ?? [];
  let total = 0;
  for (const record of list) total += record.amount;
  return { count: list.length, total: Math.round(total * 100) / 100 };
});
