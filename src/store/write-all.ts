/**
 * Writing several buffers to a file with writev, so that a large payload
 * goes to the file from its own buffer instead of being copied next to its
 * header first.
 */
import type { FileHandle } from 'node:fs/promises';

/** Writes buffers at a position (null: the file's current position), looping over short writes. */
export async function writeAll(handle: FileHandle, buffers: readonly Uint8Array[], position: number | null): Promise<void> {
  let pending = buffers.filter((b) => b.byteLength > 0);
  let at = position;
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending as Uint8Array[], at ?? undefined);
    if (bytesWritten === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    if (at !== null) at += bytesWritten;
    let skip = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const buffer of pending) {
      if (skip >= buffer.byteLength) skip -= buffer.byteLength;
      else {
        rest.push(skip === 0 ? buffer : buffer.subarray(skip));
        skip = 0;
      }
    }
    pending = rest;
  }
}
