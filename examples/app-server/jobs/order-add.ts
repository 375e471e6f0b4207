import { defineJob } from 'grex/job';
import type { Order } from './_customer.ts';

export default defineJob(async (ctx, data: { description: string; amountCents: number }) => {
  if (!Number.isInteger(data.amountCents) || data.amountCents <= 0) throw new Error('amountCents must be a positive integer');
  const orders = (await ctx.get<Order[]>('orders')) ?? [];
  const order: Order = { id: orders.length + 1, description: data.description, amountCents: data.amountCents, placedAt: new Date() };
  orders.push(order);
  ctx.put('orders', orders);
  return { order, totalCents: orders.reduce((sum, o) => sum + o.amountCents, 0) };
});
