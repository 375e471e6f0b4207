/**
 * store-blob: stores the job's data as the bucket's item "blob" — how the
 * memory benchmark fills a node with many buckets of one ~4 KiB item each.
 */
import { defineJob } from 'grex/job';

export default defineJob(async (ctx, data: { text: string }) => {
  if (typeof data?.text !== 'string') throw new Error('data.text must be a string');
  ctx.put('blob', data);
  return { stored: data.text.length };
});
