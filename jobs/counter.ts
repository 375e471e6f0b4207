/**
 * counter: adds `data.by` (default 1) to the bucket's `count` item.
 *
 *   grex submit johndoe counter '{"by": 2}'   ->   { "result": { "count": 2 }, ... }
 */
// #region job
import { defineJob } from 'grex/job';

export default defineJob(async (ctx, data: { by?: number } | null) => {
  const by = data?.by ?? 1;
  if (typeof by !== 'number' || !Number.isFinite(by)) throw new Error('data.by must be a finite number');
  const count = ((await ctx.get<number>('count')) ?? 0) + by;
  ctx.put('count', count);
  return { count };
});
// #endregion job
