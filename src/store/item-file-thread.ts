/**
 * The item-file thread: writes the item files the store writes behind its
 * log, with plain synchronous calls, a batch per message (item-file-writer.ts
 * is the other end). Per new item that is a stat, open, write, close, rename
 * and maybe a mkdir: as promises, each is a trip through libuv's thread pool
 * that wakes a pool thread and then the main thread; here the whole batch is
 * one message each way, and the main thread makes none of the calls.
 *
 * Not for durable writes (no fsync here): the store's checkpoint syncs these
 * files later, and its log holds their records until then.
 */
import { closeSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import type { FileBatch, FileOutcome } from './item-file-writer.js';

function isCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException | null)?.code ?? '');
}

/** Writes one file through its temp file; returns the size of the file it replaced (null: none). */
function writeOne(bytes: Uint8Array, tmp: string, dir: string, name: string, needSize: boolean): number | null {
  const target = join(dir, name);
  let before: number | null = null;
  if (needSize) {
    try {
      before = statSync(target).size;
    } catch (err) {
      if (!isCode(err, 'ENOENT', 'ENOTDIR')) throw err;
    }
  }
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (let at = 0; at < bytes.byteLength; ) {
        const written = writeSync(fd, bytes, at, bytes.byteLength - at);
        if (written === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
        at += written;
      }
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(tmp, target);
    } catch (err) {
      if (!isCode(err, 'ENOENT')) throw err;
      // First write into this bucket (or flock): create the folders, then once more.
      mkdirSync(dir, { recursive: true });
      renameSync(tmp, target);
    }
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // it was never made, or it is already gone
    }
    throw err;
  }
  return before;
}

parentPort!.on('message', (batch: FileBatch) => {
  const outcomes: FileOutcome[] = batch.files.map((file) => {
    try {
      const bytes = new Uint8Array(batch.bytes, file.offset, file.length);
      return { before: writeOne(bytes, file.tmp, file.dir, file.name, file.needSize) };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { error: { code: e.code ?? 'EIO', message: e.message } };
    }
  });
  // The bytes go back (moved, not copied): the main thread writes the next batch into them, and
  // this thread, which allocates almost nothing, would collect them only rarely.
  parentPort!.postMessage({ id: batch.id, outcomes, bytes: batch.bytes }, [batch.bytes]);
});
