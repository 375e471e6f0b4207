// #region job
import { defineJob } from 'grex/job';
import type { Contact } from './_customer.ts';

export default defineJob(async (ctx, data: { name: string; email: string }) => {
  // The decoded list is cached on this thread: append to it and put it back.
  const contacts = (await ctx.get<Contact[]>('contacts')) ?? [];
  const contact: Contact = { id: contacts.length + 1, name: data.name, email: data.email, addedAt: new Date() };
  contacts.push(contact);
  ctx.put('contacts', contacts);
  return { contact, count: contacts.length };
});
// #endregion job
