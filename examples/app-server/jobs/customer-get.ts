import { defineJob } from 'grex/job';
import type { Contact, Favourite, Order } from './_customer.ts';

/** Everything stored for a customer (a read: it puts nothing). */
export default defineJob(async (ctx) => ({
  customer: ctx.bucketKey,
  contacts: (await ctx.get<Contact[]>('contacts')) ?? [],
  orders: (await ctx.get<Order[]>('orders')) ?? [],
  favourites: (await ctx.get<Favourite[]>('favourites')) ?? [],
}));
