export type { Backend, FsyncPolicy, ItemRef, WriteOptions } from './backend.js';
export { FsBackend, type FsBackendOptions } from './fs-backend.js';
export { MemoryBackend } from './memory-backend.js';
export { DEFAULT_PENDING_BYTES_MAX, ItemStore, type FlockMeta, type ItemStoreOptions, type OpenReport } from './item-store.js';
export { WriteAheadLog } from './write-ahead-log.js';
export type { ItemRecord, ItemHeader, ItemEncoding } from './item-record.js';
export { type Version, NO_VERSION, compareVersions, formatVersion, parseVersion } from './version.js';
export { compareEntryKeys, sortListing, type ListingEntry } from './listing.js';
export { UsageTally, type StoreUsage } from './usage-tally.js';
