// PendingItems (src/store/pending-items.ts), the ItemStore's table of committed records
// not yet in their files: it counts their memory and wakes commits waiting for room, counts
// pending records per log segment (a segment may go only at zero), lists items by bucket,
// queues items in the order they started waiting, keeps the newer of two whole records
// unless forced, and takes a delta only on top of the version it was made on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { itemCodec } from '../../../src/codec.js';
import { encodeListAppend } from '../../../src/store/item-delta.js';
import type { ItemRecord } from '../../../src/store/item-record.js';
import { itemId, pendingHeader, PendingItems, stateVersion } from '../../../src/store/pending-items.js';
import { NO_VERSION, type Version } from '../../../src/store/version.js';

const F = 3;
const v = (seq: number): Version => ({ term: 1, seq });

function whole(itemKey: string, seq: number, size = 100): ItemRecord {
  return { bucketKey: 'b', itemKey, version: v(seq), tombstone: false, encoding: 'msgpack', payload: new Uint8Array(size) };
}

function purge(itemKey: string, seq: number): ItemRecord {
  return { ...whole(itemKey, seq, 0), tombstone: true, purge: true };
}

function append(itemKey: string, seq: number, base: Version): ItemRecord {
  return { ...whole(itemKey, seq), payload: encodeListAppend({ base, keep: 0, values: itemCodec.pack([seq]) }), delta: true };
}

describe('PendingItems', () => {
  test('counts memory and records per segment; dropping an item releases both and wakes commits waiting for room', () => {
    const pending = new PendingItems(300);
    assert.equal(pending.add(F, whole('a', 1), 7, false, new Map()), true);
    assert.equal(pending.bytes, 100 + 256);
    assert.deepEqual([...pending.outstanding], [[7, 1]]);
    assert.deepEqual([...(pending.bucketItems(F, 'b') ?? [])], ['a']);
    assert.deepEqual([...pending.toApply], [itemId(F, 'b', 'a')]);
    let woken = 0;
    pending.whenRoom(() => woken++);
    assert.equal(pending.spaceWaiting, 1);
    const id = itemId(F, 'b', 'a');
    pending.drop(id, pending.get(id)!);
    assert.equal(woken, 1);
    assert.equal(pending.spaceWaiting, 0);
    assert.equal(pending.bytes, 0);
    assert.equal(pending.size, 0);
    assert.equal(pending.outstanding.size, 0);
    assert.equal(pending.bucketItems(F, 'b'), undefined);
  });

  test('a newer whole record replaces the entry, keeping its place in line and its time; an older one is passed over unless forced', () => {
    const pending = new PendingItems(1 << 20);
    pending.add(F, whole('a', 5), 1, false, new Map());
    pending.add(F, whole('z', 6), 1, false, new Map());
    const id = itemId(F, 'b', 'a');
    const since = pending.get(id)!.since - 1000;
    pending.get(id)!.since = since;
    pending.add(F, whole('a', 7), 2, false, new Map());
    assert.deepEqual(pending.get(id)!.base!.version, v(7));
    assert.equal(pending.get(id)!.since, since);
    assert.deepEqual([...pending.toApply], [id, itemId(F, 'b', 'z')]);
    // The replaced record's segment holds nothing pending any more.
    assert.deepEqual([...pending.outstanding], [[1, 1], [2, 1]]);
    assert.equal(pending.add(F, whole('a', 6), 3, false, new Map()), true);
    assert.deepEqual(pending.get(id)!.base!.version, v(7));
    assert.equal(pending.outstanding.has(3), false);
    pending.add(F, whole('a', 6), 3, true, new Map());
    assert.deepEqual(pending.get(id)!.base!.version, v(6));
  });

  test('a delta goes on top of the version it was made on, else it is left out; a purged item is absent to deltas', () => {
    const pending = new PendingItems(1 << 20);
    const id = itemId(F, 'b', 'list');
    pending.add(F, whole('list', 1), 1, false, new Map());
    assert.equal(pending.add(F, append('list', 2, v(1)), 1, false, new Map()), true);
    assert.equal(pending.add(F, append('list', 4, v(3)), 2, false, new Map()), false);
    assert.deepEqual(stateVersion(pending.get(id)!), v(2));
    assert.deepEqual([...pending.outstanding], [[1, 2]]);
    const header = pendingHeader(pending.get(id)!);
    assert.notEqual(header, 'purged');
    if (header !== 'purged') assert.deepEqual(header.version, v(2));
    pending.add(F, purge('list', 3), 2, false, new Map());
    assert.equal(pendingHeader(pending.get(id)!), 'purged');
    assert.deepEqual(stateVersion(pending.get(id)!), NO_VERSION);
    assert.equal(pending.add(F, append('list', 4, NO_VERSION), 2, false, new Map()), true);
  });

  test('a delta without an entry builds on the item file, whose size it is told', () => {
    const pending = new PendingItems(1 << 20);
    const id = itemId(F, 'b', 'list');
    pending.add(F, append('list', 2, v(1)), 4, false, new Map([[id, 500]]));
    const entry = pending.get(id)!;
    assert.equal(entry.base, null);
    assert.equal(entry.fileSize, 500);
    assert.equal(pending.bytes, entry.deltas.heldBytes);
    pending.release(entry.deltas.segments());
    assert.equal(pending.outstanding.size, 0);
  });
});
