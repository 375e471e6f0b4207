/**
 * Replay after a crash: what an ItemStore's `open` does with the log
 * segments a crash left. Per item, the last whole record in the log (or the
 * item file) and the deltas after it, composed and written to the item file,
 * several items at once; then one fsync pass over the files written. The
 * caller removes the segments only after that (see ItemStore.open).
 *
 * Replaying over an item file written at any point gives the same item:
 * composing passes over deltas the file already holds.
 */
import type { Backend, ItemRef } from './backend.js';
import type { GrexError } from '../errors.js';
import { composeItem } from './item-delta.js';
import type { ItemRecord } from './item-record.js';
import { itemId } from './pending-items.js';
import type { WriteAheadLog } from './write-ahead-log.js';

/** Items a replay reads, composes and writes at once. */
const REPLAY_ITEMS_AT_ONCE = 8;

/**
 * Replays the log's segments into the item files and syncs them; counts
 * what it found in `report`. Resolves with the last segment replayed (0: none).
 */
export async function replayLog(
  wal: WriteAheadLog,
  backend: Backend,
  onError: (err: Error) => void,
  report: { replayedCommits: number; tornSegments: number },
): Promise<number> {
  let lastSegment = 0;
  // Per item, in log order: the last whole record (null: the item file) and the deltas after it.
  // Commits of one item are logged in the order they were made (repairs by the active node may
  // go backwards in version: a whole record always replaces what is there).
  const items = new Map<string, { flock: number; base: ItemRecord | null; deltas: ItemRecord[] }>();
  for await (const segment of wal.replay()) {
    lastSegment = segment.id;
    if (segment.tornAt !== undefined) report.tornSegments++;
    for (const commit of segment.commits) {
      report.replayedCommits++;
      for (const record of commit.records) {
        const id = itemId(commit.flock, record.bucketKey, record.itemKey);
        if (record.delta === true) {
          let item = items.get(id);
          if (item === undefined) items.set(id, (item = { flock: commit.flock, base: null, deltas: [] }));
          item.deltas.push(record);
        } else {
          items.set(id, { flock: commit.flock, base: record, deltas: [] });
        }
      }
    }
  }
  const written: ItemRef[] = [];
  const replayItem = async ({ flock, base, deltas }: { flock: number; base: ItemRecord | null; deltas: ItemRecord[] }): Promise<void> => {
    const { bucketKey, itemKey } = base ?? deltas[0]!;
    let state: ItemRecord | null | 'purge' = base?.purge === true ? 'purge' : base;
    if (deltas.length > 0) {
      let start: ItemRecord | undefined;
      try {
        start = base === null ? await backend.read(flock, bucketKey, itemKey) : state === 'purge' ? undefined : (state ?? undefined);
      } catch (err) {
        // A damaged file cannot take its deltas: it stays as it is, reads report it and repair replaces it.
        if ((err as GrexError).code !== 'GREX_ERR_STORE_CORRUPT') throw err;
        onError(err as Error);
        return;
      }
      const composed = composeItem(start, deltas);
      if (composed.applied > 0) state = composed.record!;
    }
    if (state === null) return; // only deltas the file already holds
    if (state === 'purge') await backend.remove(flock, bucketKey, itemKey);
    else await backend.write(flock, [state], { durable: false });
    written.push({ flock, bucketKey, itemKey });
  };
  // Items are independent: several at once, so reading one file overlaps composing another.
  const queue = items.values();
  let failure: { err: unknown } | null = null;
  const worker = async () => {
    for (let next = queue.next(); failure === null && next.done !== true; next = queue.next()) {
      await replayItem(next.value).catch((err: unknown) => {
        failure ??= { err };
      });
    }
  };
  await Promise.all(Array.from({ length: REPLAY_ITEMS_AT_ONCE }, worker));
  if (failure !== null) throw (failure as { err: unknown }).err;
  await backend.sync(written);
  return lastSegment;
}
