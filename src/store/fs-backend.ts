/**
 * The filesystem backend: one file per item.
 *
 *   <dir>/LOCK                                  pid of the process using the folder
 *   <dir>/tmp/                                  temp files; emptied at open
 *   <dir>/flocks/<flock>/.flock                 flock metadata
 *   <dir>/flocks/<flock>/<bucket>/<item>        item records (see item-record.ts)
 *   <dir>/wal/                                  the write-ahead log (owned by ItemStore, not this backend)
 *
 * Bucket and item names are encoded by key-names.ts, so no key can reach
 * outside `<dir>/flocks/<flock>/`. A write goes to a temp file, is fsynced
 * (policy `always`), renamed over the item's name and its folder fsynced: a
 * crash leaves the old record or the new one, never a torn one. Temp files
 * live in one folder on the same filesystem so stray ones are found at open
 * without walking the data. Writes that need not be durable yet (the item
 * files the store writes behind its log, synced at its checkpoints) are made
 * by the item-file thread (item-file-writer.ts), the same way without fsync.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, realpath, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GrexError } from '../errors.js';
import { keyProblem } from '../keys.js';
import type { Backend, FsyncPolicy, ItemRef, WriteOptions } from './backend.js';
import {
  decodeItemHeader,
  decodeItemRecord,
  encodeItemRecordParts,
  HEADER_MAX_BYTES,
  type ItemHeader,
  type ItemRecord,
} from './item-record.js';
import { filesystemSync, type FilesystemSync } from './filesystem-sync.js';
import { ItemFileWriter } from './item-file-writer.js';
import { decodeKeyName, encodeKeyName } from './key-names.js';
import { UsageTally, type StoreUsage } from './usage-tally.js';
import { writeAll } from './write-all.js';

export interface FsBackendOptions {
  /** The data folder. */
  dir: string;
  /** `always` (default): fsync files and folders before a write resolves; `never`: leave it to the OS. */
  fsync?: FsyncPolicy;
  /** How a large `sync` makes the whole filesystem durable at once (default: syncfs via `sync --file-system`). */
  filesystemSync?: FilesystemSync;
}

/**
 * From this many item files on, `sync` syncs the filesystem once rather than
 * each file and folder. Not fewer: a syncfs also writes back whatever else is
 * dirty on the filesystem (a crash replay of 1,000 items took ~250 ms longer
 * with it), while syncing ~2,000 files and folders one by one costs ~0.2 s.
 */
export const FILESYSTEM_SYNC_MIN_ITEMS = 1024;

const FLOCK_META_NAME = '.flock';
/**
 * Data folders locked by this process (by real path, so that another spelling of
 * the same folder is recognised): a second node in the same process must not share one.
 */
const lockedHere = new Set<string>();

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === code;
}

function ioError(what: string, err: unknown): GrexError {
  if (err instanceof GrexError) return err;
  const code = (err as NodeJS.ErrnoException | null)?.code ?? 'EIO';
  return new GrexError('GREX_ERR_STORE_IO', `${what}: ${code}`, { errno: code }, { cause: err });
}

export class FsBackend implements Backend {
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  readonly #flocksDir: string;
  readonly #tmpDir: string;
  readonly #lockFile: string;
  #tmpCounter = 0;
  readonly #tmpPrefix = randomBytes(4).toString('hex');
  #locked = false;
  /** The real path of the LOCK file, as registered in lockedHere. */
  #lockKey = '';
  /** Item files and their bytes: counted once at open in the background, then kept up to date. */
  readonly #tally = new UsageTally();
  #census: Promise<void> | null = null;
  readonly #filesystemSync: FilesystemSync;
  /** Writes item files behind the log (not durable ones) on a thread of its own; while open. */
  #files: ItemFileWriter | null = null;

  constructor(options: FsBackendOptions) {
    this.dir = options.dir;
    this.fsync = options.fsync ?? 'always';
    this.#filesystemSync = options.filesystemSync ?? filesystemSync();
    this.#flocksDir = join(this.dir, 'flocks');
    this.#tmpDir = join(this.dir, 'tmp');
    this.#lockFile = join(this.dir, 'LOCK');
  }

  async open(): Promise<void> {
    try {
      await mkdir(this.#flocksDir, { recursive: true });
      await this.#lock();
      // Stray temp files are writes that never completed: none was acknowledged.
      await rm(this.#tmpDir, { recursive: true, force: true });
      await mkdir(this.#tmpDir, { recursive: true });
      await this.#syncDir(this.dir);
    } catch (err) {
      throw ioError(`cannot open data folder ${this.dir}`, err);
    }
    this.#files = new ItemFileWriter();
    this.#census = this.#tally
      .census(() => this.#flockNumbers(), (flock) => this.#countFlock(flock), () => !this.#locked)
      .catch(() => {}); // the count stays partial (usage().counted false); the store works on
  }

  async close(): Promise<void> {
    if (!this.#locked) return;
    this.#locked = false;
    const files = this.#files;
    this.#files = null;
    await files?.close();
    await this.#census;
    lockedHere.delete(this.#lockKey);
    await unlink(this.#lockFile).catch(() => {});
  }

  async #lock(): Promise<void> {
    const lockKey = join(await realpath(this.dir), 'LOCK');
    for (let attempt = 0; attempt < 3; attempt++) {
      // Write the pid to a file of our own, then link it as LOCK: the lock appears with
      // its content at once, so no other starting process can find it empty and call it stale.
      const candidate = `${this.#lockFile}.${process.pid}.${this.#tmpPrefix}`;
      try {
        await writeFile(candidate, String(process.pid));
        await link(candidate, this.#lockFile);
        this.#locked = true;
        this.#lockKey = lockKey;
        lockedHere.add(lockKey);
        return;
      } catch (err) {
        if (!isCode(err, 'EEXIST')) throw err;
      } finally {
        await unlink(candidate).catch(() => {});
      }
      const owner = Number((await readFile(this.#lockFile, 'utf8').catch(() => '')).trim());
      const ownedHere = owner === process.pid && lockedHere.has(lockKey);
      if (ownedHere || (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner))) {
        throw new GrexError('GREX_ERR_DATA_LOCKED', `data folder ${this.dir} is in use by process ${owner}`, { pid: owner });
      }
      // The owner is gone (crashed): the lock is stale.
      await unlink(this.#lockFile).catch(() => {});
    }
    throw new GrexError('GREX_ERR_DATA_LOCKED', `cannot take the lock on data folder ${this.dir}`);
  }

  #flockDir(flock: number): string {
    return join(this.#flocksDir, String(flock));
  }

  #bucketDir(flock: number, bucketKey: string): string {
    return join(this.#flockDir(flock), encodeKeyName(bucketKey));
  }

  #itemPath(flock: number, bucketKey: string, itemKey: string): string {
    return join(this.#bucketDir(flock, bucketKey), encodeKeyName(itemKey));
  }

  async read(flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.#itemPath(flock, bucketKey, itemKey));
    } catch (err) {
      if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return undefined;
      throw ioError(`cannot read item ${flock}/${bucketKey}/${itemKey}`, err);
    }
    return decodeItemRecord(bytes, `${flock}/${bucketKey}/${itemKey}`, { bucketKey, itemKey });
  }

  async write(flock: number, records: readonly ItemRecord[], options: WriteOptions = {}): Promise<void> {
    const durable = (options.durable ?? true) && this.fsync === 'always';
    await Promise.all(
      records.map(async (record, i) => {
        const dir = this.#bucketDir(flock, record.bucketKey);
        const name = encodeKeyName(record.itemKey);
        // Head and payload, written as they are (the payload is not copied).
        const parts = encodeItemRecordParts(record);
        const size = parts[0].length + parts[1].byteLength;
        try {
          // The size it replaces, for the running count (writes of one item never overlap: ItemStore applies them in turn).
          const known = options.replacing?.[i];
          let before = known === undefined || known === null ? null : parts[0].length + known;
          if (!durable && this.#files !== null) {
            // Written behind the log: the item-file thread makes every call of it.
            const replaced = await this.#files.write(dir, name, this.#tmpName(), parts, known === undefined);
            if (known === undefined) before = replaced;
          } else {
            if (known === undefined) before = await sizeOf(join(dir, name));
            await this.#writeAtomically(dir, name, parts, durable);
          }
          this.#tally.change(flock, before === null ? 1 : 0, size - (before ?? 0));
        } catch (err) {
          throw ioError(`cannot write item ${flock}/${record.bucketKey}/${record.itemKey}`, err);
        }
      }),
    );
  }

  writeComposed(
    flock: number,
    item: { bucketKey: string; itemKey: string; start: ItemRecord | undefined; deltas: readonly ItemRecord[] },
    replacing: number | null | undefined,
  ): Promise<{ record: ItemRecord | undefined; applied: number }> | undefined {
    const files = this.#files;
    if (files === null) return undefined;
    const dir = this.#bucketDir(flock, item.bucketKey);
    return (async () => {
      try {
        const composed = await files.compose(dir, encodeKeyName(item.itemKey), this.#tmpName(), item, replacing === undefined);
        if (composed.record !== undefined) {
          const headBytes = composed.fileBytes - composed.record.payload.byteLength;
          const before = replacing === undefined ? composed.before : replacing === null ? null : headBytes + replacing;
          this.#tally.change(flock, before === null ? 1 : 0, composed.fileBytes - (before ?? 0));
        }
        return composed;
      } catch (err) {
        throw ioError(`cannot write item ${flock}/${item.bucketKey}/${item.itemKey}`, err);
      }
    })();
  }

  #tmpName(): string {
    return join(this.#tmpDir, `${this.#tmpPrefix}-${(this.#tmpCounter++).toString(36)}`);
  }

  async #writeAtomically(dir: string, name: string, parts: readonly Uint8Array[], durable: boolean): Promise<void> {
    const tmp = this.#tmpName();
    try {
      const handle = await open(tmp, 'w');
      try {
        await writeAll(handle, parts, null);
        if (durable) await handle.datasync();
      } finally {
        await handle.close();
      }
      const target = join(dir, name);
      try {
        await rename(tmp, target);
      } catch (err) {
        if (!isCode(err, 'ENOENT')) throw err;
        // First write into this bucket (or flock): create the folders, then retry.
        await this.#makeDirs(dir, durable);
        await rename(tmp, target);
      }
      if (durable) await this.#syncDir(dir);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  async #makeDirs(dir: string, durable: boolean): Promise<void> {
    const created = await mkdir(dir, { recursive: true });
    if (created === undefined || !durable) return;
    // Make the new folder entries durable: every parent of a created folder.
    let parent = dir;
    while (parent.length >= created.length) {
      parent = join(parent, '..');
      await this.#syncDir(parent);
    }
  }

  async #syncDir(dir: string): Promise<void> {
    if (this.fsync !== 'always') return;
    await syncPath(dir);
  }

  async sync(items: readonly ItemRef[]): Promise<void> {
    if (this.fsync !== 'always' || items.length === 0) return;
    // A checkpoint's thousands of files: one sync of the filesystem (files, folders and names alike).
    if (items.length >= FILESYSTEM_SYNC_MIN_ITEMS && (await this.#filesystemSync(this.#flocksDir))) return;
    // Files first, then every folder on their way up to flocks/: new names must be durable too.
    const dirs = new Set<string>([this.#flocksDir]);
    const files: string[] = [];
    for (const { flock, bucketKey, itemKey } of items) {
      const bucketDir = this.#bucketDir(flock, bucketKey);
      files.push(join(bucketDir, encodeKeyName(itemKey)));
      dirs.add(bucketDir);
      dirs.add(this.#flockDir(flock));
    }
    try {
      await forEachLimited(files, SYNC_CONCURRENCY, (file) => syncPath(file, true));
      await forEachLimited([...dirs], SYNC_CONCURRENCY, (dir) => syncPath(dir, true));
    } catch (err) {
      throw ioError('cannot sync item files', err);
    }
  }

  async remove(flock: number, bucketKey: string, itemKey: string): Promise<void> {
    const dir = this.#bucketDir(flock, bucketKey);
    const path = join(dir, encodeKeyName(itemKey));
    try {
      const before = await sizeOf(path);
      await unlink(path);
      this.#tally.change(flock, -1, -(before ?? 0));
    } catch (err) {
      if (isCode(err, 'ENOENT')) return;
      throw ioError(`cannot remove item ${flock}/${bucketKey}/${itemKey}`, err);
    }
    try {
      await rmdir(dir); // only succeeds when the bucket is now empty
    } catch {
      await this.#syncDir(dir).catch(() => {});
      return;
    }
    await this.#syncDir(this.#flockDir(flock)).catch(() => {});
  }

  async list(flock: number, bucketKey: string): Promise<ItemHeader[]> {
    const dir = this.#bucketDir(flock, bucketKey);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (isCode(err, 'ENOENT')) return [];
      throw ioError(`cannot list bucket ${flock}/${bucketKey}`, err);
    }
    const headers: ItemHeader[] = [];
    for (const name of names) {
      if (name.startsWith('.')) continue;
      let header: ItemHeader | undefined;
      try {
        header = await this.#readHeader(join(dir, name), `${flock}/${bucketKey}/${name}`);
      } catch (err) {
        // A damaged file is listed as corrupt when its name says which item it is, so
        // that repair can replace it; one that does not decode is not ours to list.
        const itemKey = decodeKeyName(name);
        if (!(err instanceof GrexError && err.code === 'GREX_ERR_STORE_CORRUPT') || itemKey === null) throw err;
        headers.push({ bucketKey, itemKey, version: { term: 0, seq: 0 }, tombstone: false, encoding: 'raw', size: 0, corrupt: true });
        continue;
      }
      if (header !== undefined && header.bucketKey === bucketKey && encodeKeyName(header.itemKey) === name) {
        headers.push(header);
      }
    }
    return headers;
  }

  async #readHeader(path: string, where: string): Promise<ItemHeader | undefined> {
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if (isCode(err, 'ENOENT')) return undefined; // removed while listing
      throw ioError(`cannot read ${where}`, err);
    }
    try {
      const buffer = Buffer.allocUnsafe(HEADER_MAX_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, HEADER_MAX_BYTES, 0).catch((err: unknown) => {
        throw ioError(`cannot read ${where}`, err);
      });
      const { payloadOffset: _payloadOffset, purge: _purge, delta: _delta, ...header } = decodeItemHeader(buffer.subarray(0, bytesRead), where);
      return header;
    } finally {
      await handle.close();
    }
  }

  async *buckets(flock: number): AsyncIterable<string> {
    const flockDir = this.#flockDir(flock);
    let names: string[];
    try {
      names = await readdir(flockDir);
    } catch (err) {
      if (isCode(err, 'ENOENT')) return;
      throw ioError(`cannot list flock ${flock}`, err);
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const key = decodeKeyName(name) ?? (await this.#bucketKeyFromRecords(join(flockDir, name), `${flock}/${name}`));
      if (key !== null && keyProblem(key) === null && encodeKeyName(key) === name) yield key;
    }
  }

  /** A hashed bucket folder's key, from the header of any record in it. */
  async #bucketKeyFromRecords(dir: string, where: string): Promise<string | null> {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (name.startsWith('.')) continue;
      try {
        const header = await this.#readHeader(join(dir, name), `${where}/${name}`);
        if (header !== undefined) return header.bucketKey;
      } catch {
        // a corrupt record says nothing reliable; try the next one
      }
    }
    return null;
  }

  usage(): StoreUsage {
    return this.#tally.usage;
  }

  /** Flocks with a folder. */
  async #flockNumbers(): Promise<number[]> {
    const names = await readdir(this.#flocksDir);
    return names.filter((name) => /^\d+$/.test(name)).map(Number);
  }

  /** Item files of one flock and their bytes (the census at open). */
  async #countFlock(flock: number): Promise<{ items: number; bytes: number }> {
    const found = { items: 0, bytes: 0 };
    const flockDir = this.#flockDir(flock);
    const buckets = await readdir(flockDir, { withFileTypes: true }).catch(() => []);
    for (const bucket of buckets) {
      if (!bucket.isDirectory() || bucket.name.startsWith('.')) continue;
      const names = await readdir(join(flockDir, bucket.name)).catch(() => [] as string[]);
      for (const name of names) {
        if (name.startsWith('.')) continue;
        const size = await sizeOf(join(flockDir, bucket.name, name));
        if (size === null) continue;
        found.items++;
        found.bytes += size;
      }
    }
    return found;
  }

  async readFlockMeta(flock: number): Promise<Uint8Array | undefined> {
    try {
      return await readFile(join(this.#flockDir(flock), FLOCK_META_NAME));
    } catch (err) {
      if (isCode(err, 'ENOENT')) return undefined;
      throw ioError(`cannot read metadata of flock ${flock}`, err);
    }
  }

  async writeFlockMeta(flock: number, bytes: Uint8Array): Promise<void> {
    await this.#writeAtomically(this.#flockDir(flock), FLOCK_META_NAME, [bytes], this.fsync === 'always').catch((err: unknown) => {
      throw ioError(`cannot write metadata of flock ${flock}`, err);
    });
  }
}

const SYNC_CONCURRENCY = 16;

/** fsyncs a file or folder; with `missingOk`, one that no longer exists is skipped. */
async function syncPath(path: string, missingOk = false): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if (missingOk && isCode(err, 'ENOENT')) return;
    throw err;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A file's size, or null when there is none (or it cannot be read: the count then errs by one). */
async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isCode(err, 'EPERM');
  }
}
