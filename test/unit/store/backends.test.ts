// Runs the Backend contract (backend-contract.ts) against every backend:
// the filesystem backend with fsync 'always' and 'never', and the memory backend.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FsBackend } from '../../../src/store/fs-backend.js';
import type { ItemHeader } from '../../../src/store/item-record.js';
import { MemoryBackend } from '../../../src/store/memory-backend.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { backendContract, KEY_SHAPES, plain, record, version } from './backend-contract.js';

backendContract('FsBackend (fsync always)', async (t) => new FsBackend({ dir: await tempDir(t), fsync: 'always' }));
backendContract('FsBackend (fsync never)', async (t) => new FsBackend({ dir: await tempDir(t), fsync: 'never' }));
backendContract('MemoryBackend', async () => new MemoryBackend());

// The backends are interchangeable: the same writes give the same records and listings.
describe('backends agree', () => {
  test('the filesystem and memory backends return identical records and headers for the same writes', async (t) => {
    const backends = [new FsBackend({ dir: await tempDir(t), fsync: 'never' }), new MemoryBackend()];
    for (const backend of backends) {
      await backend.open();
      t.after(() => backend.close());
      await backend.write(3, KEY_SHAPES.slice(0, 12).map((key, i) => record('bucket', key, version(1, i + 1))));
      await backend.write(3, [record('bucket', KEY_SHAPES[0]!, version(2, 1), '', { tombstone: true })]);
    }
    const [fs, memory] = backends as [FsBackend, MemoryBackend];
    for (const key of KEY_SHAPES.slice(0, 12)) assert.deepEqual(plain(await fs.read(3, 'bucket', key)), plain(await memory.read(3, 'bucket', key)), key);
    const sorted = (headers: ItemHeader[]) => [...headers].sort((a, b) => (a.itemKey < b.itemKey ? -1 : a.itemKey > b.itemKey ? 1 : 0));
    assert.deepEqual(sorted(await fs.list(3, 'bucket')), sorted(await memory.list(3, 'bucket')));
  });
});
