// #region registry
// The jobs this app submits, so node.submit checks their data and types their results.
import type contactAdd from './jobs/contact-add.ts';
import type customerGet from './jobs/customer-get.ts';
import type favouriteToggle from './jobs/favourite-toggle.ts';
import type orderAdd from './jobs/order-add.ts';

declare module 'grex' {
  interface GrexJobs {
    'contact-add': typeof contactAdd;
    'customer-get': typeof customerGet;
    'favourite-toggle': typeof favouriteToggle;
    'order-add': typeof orderAdd;
  }
}
// #endregion registry
