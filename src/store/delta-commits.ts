/**
 * How the deltas of an ItemStore commit meet their items. With a log: which
 * of them apply to their item as it stands (pending records, else the file),
 * checked before the commit is appended. Without a log (the memory backend):
 * the commit is written at once, deltas composed on the stored items.
 *
 * A delta applies only on top of exactly the version it names as its base
 * (item-delta.ts); `partial` (CommitOptions.partial) leaves out the ones that
 * do not instead of failing the commit.
 */
import type { Backend } from './backend.js';
import { GrexError } from '../errors.js';
import { composeItem, deltaFit, type DeltaFit } from './item-delta.js';
import type { ItemRecord } from './item-record.js';
import { headerOf, itemId, stateVersion, type PendingItems } from './pending-items.js';
import { formatVersion, NO_VERSION, type Version } from './version.js';
import type { WrittenItems } from './written-items.js';

function itemChanged(record: ItemRecord, fit: DeltaFit, current: Version): GrexError {
  return new GrexError(
    'GREX_ERR_INTERNAL',
    `item ${JSON.stringify(record.itemKey)} is at version ${formatVersion(current)}: the append (${formatVersion(record.version)}) ${fit === 'held' ? 'is already stored' : 'was made on another version'}`,
    { itemKey: record.itemKey, version: formatVersion(current) },
  );
}

/**
 * Which deltas of a commit do not apply to their item as it stands (from
 * pending records, else its file). Without `partial`, one that does not
 * fails the commit before anything is written.
 */
export async function fitDeltas(
  backend: Backend,
  pending: PendingItems,
  files: WrittenItems,
  flock: number,
  records: readonly ItemRecord[],
  options: { partial?: boolean },
): Promise<{ skipped: ItemRecord[]; fileSizes: Map<string, number> }> {
  const skipped: ItemRecord[] = [];
  const fileSizes = new Map<string, number>();
  /** Versions of items each record of this commit leaves, for deltas after it in the same commit. */
  const within = new Map<string, Version>();
  for (const record of records) {
    const id = itemId(flock, record.bucketKey, record.itemKey);
    if (record.delta !== true) {
      within.set(id, record.purge === true ? NO_VERSION : record.version);
      continue;
    }
    let current = within.get(id);
    if (current === undefined) {
      const entry = pending.get(id);
      const written = files.headers.get(id);
      if (entry !== undefined) current = stateVersion(entry);
      else if (written !== undefined) {
        current = written === 'absent' ? NO_VERSION : written.version;
        if (written !== 'absent') fileSizes.set(id, written.size);
      } else {
        const applies = files.applies;
        const file = await backend.read(flock, record.bucketKey, record.itemKey).catch((err: GrexError) => {
          if (err.code === 'GREX_ERR_STORE_CORRUPT' && options.partial === true) return null;
          throw err;
        });
        // A damaged file takes no deltas: the whole item must come instead.
        if (file === null) {
          skipped.push(record);
          continue;
        }
        const entryNow = pending.get(id);
        current = entryNow !== undefined ? stateVersion(entryNow) : (file?.version ?? NO_VERSION);
        if (file !== undefined) fileSizes.set(id, file.payload.byteLength);
        files.remember(id, file === undefined ? undefined : headerOf(file), applies);
      }
    }
    const fit = deltaFit(current, record);
    if (fit !== 'applies') {
      if (options.partial !== true) throw itemChanged(record, fit, current);
      skipped.push(record);
      continue;
    }
    within.set(id, record.version);
  }
  return { skipped, fileSizes };
}

/** Commits without a log: deltas are composed on the stored items now. */
export async function commitDirect(backend: Backend, flock: number, records: readonly ItemRecord[], options: { partial?: boolean }): Promise<ItemRecord[]> {
  const states = new Map<string, { ref: ItemRecord; state: ItemRecord | undefined; remove: boolean }>();
  const skipped: ItemRecord[] = [];
  for (const record of records) {
    const id = itemId(flock, record.bucketKey, record.itemKey);
    if (record.delta !== true) {
      states.set(id, { ref: record, state: record.purge === true ? undefined : record, remove: record.purge === true });
      continue;
    }
    const current = states.has(id) ? states.get(id)!.state : await backend.read(flock, record.bucketKey, record.itemKey);
    const fit = deltaFit(current?.version ?? NO_VERSION, record);
    if (fit !== 'applies') {
      if (options.partial !== true) throw itemChanged(record, fit, current?.version ?? NO_VERSION);
      skipped.push(record);
      continue;
    }
    states.set(id, { ref: record, state: composeItem(current, [record]).record, remove: false });
  }
  const writes: ItemRecord[] = [];
  for (const { ref, state, remove } of states.values()) {
    if (remove) await backend.remove(flock, ref.bucketKey, ref.itemKey);
    else if (state !== undefined) writes.push(state);
  }
  if (writes.length > 0) await backend.write(flock, writes);
  return skipped;
}
