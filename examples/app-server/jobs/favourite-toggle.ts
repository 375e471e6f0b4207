import { defineJob } from 'grex/job';
import type { Favourite } from './_customer.ts';

/** Adds the favourite, or removes it when the customer has it already. */
export default defineJob(async (ctx, data: Favourite) => {
  const favourites = (await ctx.get<Favourite[]>('favourites')) ?? [];
  const at = favourites.findIndex((f) => f.url === data.url);
  if (at === -1) favourites.push({ url: data.url, title: data.title });
  else favourites.splice(at, 1);
  if (favourites.length === 0) ctx.delete('favourites');
  else ctx.put('favourites', favourites);
  return { favourite: at === -1, favourites };
});
