// Runs the Backend contract (backend-contract.ts) against every backend:
// the filesystem backend with fsync 'always' and 'never', and the memory backend.
import { FsBackend } from '../../../src/store/fs-backend.js';
import { MemoryBackend } from '../../../src/store/memory-backend.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { backendContract } from './backend-contract.js';

backendContract('FsBackend (fsync always)', async (t) => new FsBackend({ dir: await tempDir(t), fsync: 'always' }));
backendContract('FsBackend (fsync never)', async (t) => new FsBackend({ dir: await tempDir(t), fsync: 'never' }));
backendContract('MemoryBackend', async () => new MemoryBackend());
