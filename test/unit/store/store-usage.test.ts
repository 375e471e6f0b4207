// Running counts of records and bytes in both backends (usage(), for the store
// gauges of /metrics): writes, replacements and removals; the filesystem
// backend's count of what is on disk when it opens; and ItemStore through its log.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { Backend } from '../../../src/store/backend.js';
import { FsBackend } from '../../../src/store/fs-backend.js';
import { itemCodec } from '../../../src/codec.js';
import { encodeListAppend } from '../../../src/store/item-delta.js';
import { encodeItemRecord } from '../../../src/store/item-record.js';
import { ItemStore } from '../../../src/store/item-store.js';
import { MemoryBackend } from '../../../src/store/memory-backend.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';
import { record, version } from './backend-contract.js';

const size = (...records: Parameters<typeof encodeItemRecord>[0][]) => records.reduce((sum, r) => sum + encodeItemRecord(r).byteLength, 0);

async function counted(backend: Backend): Promise<{ items: number; bytes: number }> {
  const usage = await waitFor(() => (backend.usage!().counted ? backend.usage!() : undefined), { what: 'the census to finish' });
  return { items: usage.items, bytes: usage.bytes };
}

for (const [name, make] of [
  ['FsBackend', async (t: TestContext) => new FsBackend({ dir: await tempDir(t), fsync: 'never' })],
  ['MemoryBackend', async () => new MemoryBackend()],
] as const) {
  describe(`${name} usage`, () => {
    test('follows writes, replacements and removals', async (t) => {
      const backend: Backend = await make(t);
      await backend.open();
      t.after(() => backend.close());
      assert.deepEqual(await counted(backend), { items: 0, bytes: 0 });
      const a1 = record('b', 'a', version(1, 1), 'x'.repeat(100));
      const b1 = record('b', 'b', version(1, 2), 'y'.repeat(10));
      const c1 = record('other', 'c', version(1, 1), 'z');
      await backend.write(3, [a1, b1]);
      await backend.write(5, [c1]);
      assert.deepEqual(await counted(backend), { items: 3, bytes: size(a1, b1, c1) });
      const a2 = record('b', 'a', version(1, 3), 'x'.repeat(1000));
      await backend.write(3, [a2]);
      assert.deepEqual(await counted(backend), { items: 3, bytes: size(a2, b1, c1) });
      await backend.remove(3, 'b', 'b');
      await backend.remove(3, 'b', 'never-written');
      assert.deepEqual(await counted(backend), { items: 2, bytes: size(a2, c1) });
    });
  });
}

describe('FsBackend usage across a restart', () => {
  test('a reopened data folder is counted in the background, and writes during the count are not counted twice', async (t) => {
    const dir = await tempDir(t);
    const first = new FsBackend({ dir, fsync: 'never' });
    await first.open();
    const records = Array.from({ length: 40 }, (_, i) => record(`bucket-${i % 7}`, `item-${i}`, version(1, i + 1), 'p'.repeat(i)));
    for (let flock = 0; flock < 4; flock++) await first.write(flock, records.slice(flock * 10, flock * 10 + 10));
    const before = await counted(first);
    assert.deepEqual(before, { items: 40, bytes: size(...records) });
    await first.close();

    const second = new FsBackend({ dir, fsync: 'never' });
    await second.open();
    t.after(() => second.close());
    // Writes racing the census: new items in counted, uncounted and new flocks, and replacements.
    const extra = [record('late', 'n1', version(2, 1), 'late'), record('late', 'n2', version(2, 2), 'later')];
    const replaced = record(records[0]!.bucketKey, records[0]!.itemKey, version(2, 3), 'q'.repeat(500));
    await Promise.all([second.write(0, [replaced]), second.write(2, [extra[0]!]), second.write(9, [extra[1]!])]);
    assert.deepEqual(await counted(second), { items: 42, bytes: size(replaced, ...records.slice(1), ...extra) });
  });

  test('ItemStore reports the backend count once its log is applied', async (t) => {
    const dir = await tempDir(t);
    const store = new ItemStore(new FsBackend({ dir, fsync: 'never' }), { wal: { dir: join(dir, 'wal'), fsync: 'never' } });
    await store.open();
    t.after(() => store.close());
    const r = record('b', 'i', version(1, 1), 'value');
    await store.commit(0, [r]);
    await waitFor(() => store.usage().items === 1 && store.pendingBytes === 0, { what: 'the commit to be applied' });
    assert.deepEqual(store.usage(), { items: 1, bytes: size(r), counted: true });
  });

  test('ItemStore keeps the count exact while the apply loop rewrites a hot list (it tells the backend what each file replaces)', async (t) => {
    const dir = await tempDir(t);
    const backend = new FsBackend({ dir, fsync: 'never' });
    const store = new ItemStore(backend, { wal: { dir: join(dir, 'wal'), fsync: 'never' }, applyDelayMs: 0 });
    await store.open();
    t.after(() => store.close());
    await store.commit(0, [{ ...record('b', 'list', version(1, 1), ''), encoding: 'msgpack', payload: itemCodec.pack(['a']) }]);
    for (let seq = 2; seq <= 12; seq++) {
      const values = itemCodec.pack(['x'.repeat(seq * 10)]);
      await store.commit(0, [{ bucketKey: 'b', itemKey: 'list', version: version(1, seq), tombstone: false, encoding: 'msgpack', payload: encodeListAppend({ base: version(1, seq - 1), keep: 3, values }), delta: true }]);
      await waitFor(async () => (await backend.read(0, 'b', 'list'))?.version.seq === seq, { what: `version ${seq} in the file` });
    }
    const onDisk = await backend.read(0, 'b', 'list');
    assert.deepEqual(store.usage(), { items: 1, bytes: size(onDisk!), counted: true });
  });
});
