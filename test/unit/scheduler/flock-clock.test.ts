// FlockClock: versions grow per flock and never repeat across restarts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FlockClock } from '../../../src/scheduler/flock-clock.js';
import { ItemStore } from '../../../src/store/item-store.js';
import { MemoryBackend } from '../../../src/store/memory-backend.js';
import { compareVersions, type Version } from '../../../src/store/version.js';

describe('FlockClock', () => {
  test('versions of a flock are strictly increasing and start at term 1', async () => {
    const clock = new FlockClock(new ItemStore(new MemoryBackend()), 5);
    const versions: Version[] = [];
    for (let i = 0; i < 12; i++) versions.push(...(await clock.next(3, 1 + (i % 3))));
    for (let i = 1; i < versions.length; i++) assert.equal(compareVersions(versions[i - 1]!, versions[i]!), -1);
    assert.ok(versions.every((v) => v.term === 1));
  });

  test('concurrent requests get distinct versions', async () => {
    const clock = new FlockClock(new ItemStore(new MemoryBackend()), 3);
    const batches = await Promise.all(Array.from({ length: 50 }, () => clock.next(0, 2)));
    const seqs = batches.flat().map((v) => v.seq);
    assert.equal(new Set(seqs).size, 100);
  });

  test('after a restart the clock continues above everything it may have handed out', async () => {
    const store = new ItemStore(new MemoryBackend());
    const before = new FlockClock(store, 10);
    let last: Version | undefined;
    for (let i = 0; i < 25; i++) [last] = await before.next(7, 1);
    const after = new FlockClock(store, 10);
    const [first] = await after.next(7, 1);
    assert.equal(compareVersions(last!, first!), -1);
  });

  test('flocks count independently', async () => {
    const clock = new FlockClock(new ItemStore(new MemoryBackend()));
    const [a] = await clock.next(1, 1);
    const [b] = await clock.next(2, 1);
    assert.deepEqual(a, b);
  });
});
