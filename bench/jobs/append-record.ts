/**
 * append-record: appends one record to the customer's list and keeps the
 * newest 200 — the write of the HTTP benchmark, as a user would write it
 * with ctx.append (only the new record is logged, stored and replicated).
 *
 *   POST /buckets/c1/jobs/append-record  {"description": "...", "other": "...", "amount": 12.5, "date": "2026-06-01T00:00:00.000Z"}
 *   -> { "result": { "count": 200 }, ... }
 */
import { defineJob } from 'grex/job';
import { ITEM, KEEP_RECORDS, type BenchRecord, type RecordBody } from './_records.ts';

export default defineJob(async (ctx, body: RecordBody) => {
  const record: BenchRecord = { description: body.description, other: body.other, amount: body.amount, date: new Date(body.date) };
  const count = await ctx.append(ITEM, [record], { keep: KEEP_RECORDS });
  return { count };
});
