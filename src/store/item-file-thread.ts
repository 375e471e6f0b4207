/**
 * The item-file thread: writes the item files the store writes behind its
 * log, with plain synchronous calls, a batch per message (item-file-writer.ts
 * is the other end). Per new item that is a stat, open, write, close, rename
 * and maybe a mkdir: as promises, each is a trip through libuv's thread pool
 * that wakes a pool thread and then the main thread; here the whole batch is
 * one message each way, and the main thread makes none of the calls.
 *
 * An item whose deltas are due is composed here too (composeItem: decode
 * the list, append, trim, encode, checksum): the main thread only copies the
 * payloads in and gets the composed payload back, moved.
 *
 * Not for durable writes (no fsync here): the store's checkpoint syncs these
 * files later, and its log holds their records until then.
 */
import { closeSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { composeItem } from './item-delta.js';
import { encodeItemRecordParts, type ItemRecord } from './item-record.js';
import type { ComposeOrder, ComposedOnThread, FileBatch, FileOutcome } from './item-file-writer.js';

function isCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException | null)?.code ?? '');
}

/** Writes one file (its parts back to back) through its temp file; returns the size of the file it replaced (null: none). */
function writeOne(parts: readonly Uint8Array[], tmp: string, dir: string, name: string, needSize: boolean): number | null {
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
      for (const bytes of parts) {
        for (let at = 0; at < bytes.byteLength; ) {
          const written = writeSync(fd, bytes, at, bytes.byteLength - at);
          if (written === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
          at += written;
        }
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

/** The start record and deltas of an order, their payloads views into `bytes` (laid out as ComposeOrder says). */
function composeInput(order: ComposeOrder, bytes: Uint8Array): { start: ItemRecord | undefined; deltas: ItemRecord[] } {
  const { bucketKey, itemKey } = order;
  let at = 0;
  const take = (length: number) => bytes.subarray(at, (at += length));
  const start = order.start === null ? undefined : { bucketKey, itemKey, ...order.start, payload: take(order.start.length) };
  const deltas = order.deltas.map((d) => ({ bucketKey, itemKey, version: d.version, tombstone: false, encoding: 'msgpack' as const, delta: true, payload: take(d.length) }));
  return { start, deltas };
}

parentPort!.on('message', (batch: FileBatch) => {
  // Composed payloads go back moved (each in an ArrayBuffer of its own, see composeItem).
  const moved: ArrayBuffer[] = [];
  const outcomes: FileOutcome[] = batch.files.map((file) => {
    try {
      const bytes = new Uint8Array(batch.bytes, file.offset, file.length);
      if (file.compose === undefined) return { before: writeOne([bytes], file.tmp, file.dir, file.name, file.needSize) };
      const { start, deltas } = composeInput(file.compose, bytes);
      const { record, applied } = composeItem(start, deltas);
      if (applied === 0 || record === undefined) return { before: null };
      const parts = encodeItemRecordParts(record);
      const before = writeOne(parts, file.tmp, file.dir, file.name, file.needSize);
      const payload = record.payload.buffer as ArrayBuffer;
      moved.push(payload);
      const composed: ComposedOnThread = { applied, payload, version: record.version, fileBytes: parts[0].length + parts[1].byteLength };
      return { before, composed };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { error: { code: e.code ?? 'EIO', message: e.message } };
    }
  });
  // The bytes go back (moved, not copied): the main thread writes the next batch into them, and
  // this thread, which allocates little that outlives a batch, would collect them only rarely.
  parentPort!.postMessage({ id: batch.id, outcomes, bytes: batch.bytes }, [batch.bytes, ...moved]);
});
