export type { Backend, FsyncPolicy } from './backend.js';
export { FsBackend, type FsBackendOptions } from './fs-backend.js';
export { MemoryBackend } from './memory-backend.js';
export { ItemStore, type FlockMeta } from './item-store.js';
export type { ItemRecord, ItemHeader, ItemEncoding } from './item-record.js';
export { type Version, NO_VERSION, compareVersions, formatVersion, parseVersion } from './version.js';
