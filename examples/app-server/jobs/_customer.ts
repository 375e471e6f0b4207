/**
 * A customer bucket (key: the customer id) holds one item per record type:
 *
 *   "ann", "contacts"     Contact[]
 *   "ann", "orders"       Order[]
 *   "ann", "favourites"   Favourite[]
 *
 * (A helper module: its name starts with "_", so it is not a job.)
 */
export interface Contact {
  id: number;
  name: string;
  email: string;
  addedAt: Date;
}

export interface Order {
  id: number;
  description: string;
  amountCents: number;
  placedAt: Date;
}

export interface Favourite {
  url: string;
  title: string;
}
