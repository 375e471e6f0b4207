// Replication of deltas (appends): what a herder does with each record given the
// version it holds (replicaAction); the active node's side (replicateTo) sends the
// whole item, read once its own write is stored and never older than the delta,
// for every item the herder names missing; and a herder's onReplicate over a real
// store applies a delta only on its base version, names the item otherwise, and
// takes the whole item that follows.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { replicaAction, replicateTo, type ReplicateAnswer } from '../../../src/cluster/replicator.js';
import { itemCodec } from '../../../src/codec.js';
import { encodeListAppend } from '../../../src/store/item-delta.js';
import { decodeRecordBytes, type ItemRecord } from '../../../src/store/item-record.js';
import type { ItemStore } from '../../../src/store/item-store.js';
import { NO_VERSION, type Version } from '../../../src/store/version.js';
import { loneLeadership } from '../../helpers/lone-leadership.js';

const F = 3;
const v = (seq: number, term = 1): Version => ({ term, seq });

function whole(bucketKey: string, seq: number, value: unknown): ItemRecord {
  return { bucketKey, itemKey: 'list', version: v(seq), tombstone: false, encoding: 'msgpack', payload: itemCodec.pack(value) };
}

function append(bucketKey: string, seq: number, base: Version, values: unknown[]): ItemRecord {
  return {
    bucketKey,
    itemKey: 'list',
    version: v(seq),
    tombstone: false,
    encoding: 'msgpack',
    payload: encodeListAppend({ base, keep: 0, values: itemCodec.pack(values) }),
    delta: true,
  };
}

describe('replicaAction', () => {
  test('a whole record is stored unless the herder holds that version or newer; it replaces a damaged copy', () => {
    const record = whole('b', 5, [1]);
    assert.equal(replicaAction(record, undefined), 'store');
    assert.equal(replicaAction(record, v(4)), 'store');
    assert.equal(replicaAction(record, 'damaged'), 'store');
    assert.equal(replicaAction(record, v(5)), 'held');
    assert.equal(replicaAction(record, v(9)), 'held');
  });

  test('a delta is stored only on its base; held at or after its version; otherwise missing, and always on a damaged copy', () => {
    const delta = append('b', 5, v(3), [1]);
    assert.equal(replicaAction(delta, v(3)), 'store');
    assert.equal(replicaAction(delta, v(5)), 'held');
    assert.equal(replicaAction(delta, v(4)), 'missing');
    assert.equal(replicaAction(delta, v(2)), 'missing');
    assert.equal(replicaAction(delta, undefined), 'missing');
    assert.equal(replicaAction(delta, 'damaged'), 'missing');
    assert.equal(replicaAction(append('b', 1, NO_VERSION, [1]), undefined), 'store', 'the first append to an absent item');
  });
});

describe('replicateTo (the active node)', () => {
  test('items named missing are sent again whole, read only once the write is stored here', async () => {
    const delta = append('b', 5, v(4), ['x']);
    const sent: ItemRecord[][] = [];
    const answers: ReplicateAnswer[] = [
      { applied: 0, missing: [['b', 'list']], herding: true },
      { applied: 1, missing: [], herding: true },
    ];
    let stored = false;
    let readWhenStored: boolean | undefined;
    const wholes: ItemRecord[] = [];
    await replicateTo({
      records: [delta],
      encoded: [new Uint8Array([1])],
      send: async (records) => {
        sent.push(records.map((r) => (r instanceof Uint8Array && r.byteLength === 1 ? delta : decodeRecordBytes(r, 'sent'))));
        return answers.shift()!;
      },
      storedHere: async () => {
        await new Promise((resolve) => setImmediate(resolve));
        stored = true;
      },
      readWhole: async () => {
        readWhenStored = stored;
        return whole('b', 6, ['a', 'x', 'y']);
      },
      onWhole: (record) => wholes.push(record),
    });
    assert.equal(readWhenStored, true);
    assert.equal(sent.length, 2);
    assert.equal(sent[1]![0]!.delta, undefined);
    assert.deepEqual(sent[1]![0]!.version, v(6), 'the newest whole item stands for the delta');
    assert.deepEqual(itemCodec.unpack(sent[1]![0]!.payload), ['a', 'x', 'y']);
    assert.equal(wholes.length, 1);
  });

  test('no second bleet when nothing is missing; a whole item older than the delta, or a strange answer, fails the send', async () => {
    let sends = 0;
    await replicateTo({
      records: [whole('b', 2, [])],
      encoded: [new Uint8Array(1)],
      send: async () => (sends++, { applied: 1, missing: [], herding: true }),
      storedHere: async () => {},
      readWhole: async () => undefined,
    });
    assert.equal(sends, 1);
    const delta = append('b', 5, v(4), ['x']);
    await assert.rejects(
      replicateTo({
        records: [delta],
        encoded: [new Uint8Array(1)],
        send: async () => ({ applied: 0, missing: [['b', 'list']] as [string, string][], herding: true }),
        storedHere: async () => {},
        readWhole: async () => whole('b', 4, []),
      }),
      (err: { code?: string }) => err.code === 'GREX_ERR_INTERNAL',
    );
    await assert.rejects(
      replicateTo({
        records: [delta],
        encoded: [new Uint8Array(1)],
        send: async () => ({ applied: 0, missing: [['other', 'list']] as [string, string][], herding: true }),
        storedHere: async () => {},
        readWhole: async () => whole('other', 9, []),
      }),
      (err: { code?: string }) => err.code === 'GREX_ERR_BLEET_INVALID',
    );
  });
});

describe('onReplicate (a herder)', () => {
  async function herder() {
    const invalidated: string[] = [];
    const { store, leadership } = await loneLeadership({
      selfId: 'h',
      cluster: { flocks: F + 1, route: () => ({ flock: F, herders: ['a', 'h'], learners: [], target: ['a', 'h'], active: 'a' }) },
      invalidateBucket: (bucketKey) => void invalidated.push(bucketKey),
      // h herds the flock (durably, as after a claim it promised).
      before: (clock) => clock.setHerding(F, true),
    });
    return { store, leadership, invalidated };
  }

  const listOf = async (store: ItemStore, bucketKey: string) => itemCodec.unpack((await store.read(F, bucketKey, 'list'))!.payload);

  test('applies deltas on their base, names items whose base it lacks, and takes the whole item after', async () => {
    const { store, leadership, invalidated } = await herder();
    assert.deepEqual(await leadership.onReplicate(F, 1, [whole('b1', 1, ['a']), whole('b2', 2, ['a'])]), { applied: 2, missing: [], herding: true });
    // b1's delta builds on what the herder holds; b2's on a version it never got.
    const answer = await leadership.onReplicate(F, 1, [append('b1', 3, v(1), ['b']), append('b2', 5, v(4), ['c'])]);
    assert.deepEqual(answer, { applied: 1, missing: [['b2', 'list']], herding: true });
    assert.deepEqual(await listOf(store, 'b1'), ['a', 'b']);
    assert.deepEqual(await listOf(store, 'b2'), ['a'], 'nothing applied on the wrong base');
    assert.deepEqual(await leadership.onReplicate(F, 1, [whole('b2', 5, ['a', 'x', 'c'])]), { applied: 1, missing: [], herding: true });
    assert.deepEqual(await listOf(store, 'b2'), ['a', 'x', 'c']);
    // A delta it already holds is passed over, not named.
    assert.deepEqual(await leadership.onReplicate(F, 1, [append('b1', 3, v(1), ['b'])]), { applied: 0, missing: [], herding: true });
    assert.deepEqual(await listOf(store, 'b1'), ['a', 'b']);
    assert.ok(invalidated.includes('b1') && invalidated.includes('b2'));
  });

  test('a stale term is refused before anything is looked at', async () => {
    const { leadership } = await herder();
    await leadership.onReplicate(F, 2, [whole('b', 1, [])]);
    await assert.rejects(leadership.onReplicate(F, 1, [append('b', 2, v(1), [1])]), (err: { code?: string }) => err.code === 'GREX_ERR_STALE_TERM');
  });
});
