// FlockClock terms and durability beyond flock-clock.test.ts: a promise (or a
// raised accept, or a seq reservation) whose metadata write fails is not
// given and changes nothing; damaged flock metadata is an error, never read
// as "no promise"; promises and reservations survive a close and reopen of a
// filesystem store.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GrexError } from '../../../src/errors.js';
import { FlockClock } from '../../../src/scheduler/flock-clock.js';
import { FsBackend } from '../../../src/store/fs-backend.js';
import { ItemStore } from '../../../src/store/item-store.js';
import { MemoryBackend } from '../../../src/store/memory-backend.js';
import { tempDir } from '../../helpers/temp-dir.js';

const FLOCK = 12;

/** A memory backend whose next `failMeta` metadata writes fail. */
class FlakyMetaBackend extends MemoryBackend {
  failMeta = 0;
  override async writeFlockMeta(flock: number, bytes: Uint8Array): Promise<void> {
    if (this.failMeta > 0) {
      this.failMeta--;
      throw Object.assign(new Error('no space left'), { code: 'ENOSPC' });
    }
    return super.writeFlockMeta(flock, bytes);
  }
}

describe('FlockClock when metadata writes fail', () => {
  test('a promise that could not be written is not given, and the term can be promised later', async () => {
    const backend = new FlakyMetaBackend();
    const store = new ItemStore(backend);
    const clock = new FlockClock(store);
    await clock.promise(FLOCK, 2);
    backend.failMeta = 1;
    await assert.rejects(clock.promise(FLOCK, 3), /no space left/);
    assert.equal(await clock.promised(FLOCK), 2);
    assert.equal(await new FlockClock(store).promised(FLOCK), 2);
    assert.deepEqual(await clock.promise(FLOCK, 3), { promised: true, term: 3 });
  });

  test('an accept of a higher term whose promise could not be raised is not an acceptance', async () => {
    const backend = new FlakyMetaBackend();
    const clock = new FlockClock(new ItemStore(backend));
    await clock.promise(FLOCK, 1);
    backend.failMeta = 1;
    await assert.rejects(clock.accept(FLOCK, 4));
    assert.equal(await clock.promised(FLOCK), 1);
    assert.equal(await clock.accept(FLOCK, 4), true);
    assert.equal(await clock.promised(FLOCK), 4);
  });

  test('a reservation that could not be written hands out nothing; later versions are still unique and above', async () => {
    const backend = new FlakyMetaBackend();
    const store = new ItemStore(backend);
    const clock = new FlockClock(store, 3);
    const first = await clock.next(FLOCK, 3); // reserves through 6
    backend.failMeta = 1;
    await assert.rejects(clock.next(FLOCK, 5), /no space left/); // needs 4..8
    const later = await clock.next(FLOCK, 2);
    const restarted = await new FlockClock(store, 3).next(FLOCK, 1);
    const seqs = [...first, ...later, ...restarted].map((v) => v.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );
    assert.equal(new Set(seqs).size, seqs.length);
  });

  test('damaged flock metadata is an error, not a forgotten promise', async () => {
    const backend = new MemoryBackend();
    const store = new ItemStore(backend);
    await new FlockClock(store).promise(FLOCK, 5);
    const bytes = (await backend.readFlockMeta(FLOCK))!;
    const damaged = Uint8Array.from(bytes);
    damaged[2] = damaged[2]! ^ 0x01;
    await backend.writeFlockMeta(FLOCK, damaged);
    const clock = new FlockClock(store);
    await assert.rejects(clock.promised(FLOCK), (err: unknown) => err instanceof GrexError && err.code === 'GREX_ERR_STORE_CORRUPT');
    await assert.rejects(clock.promise(FLOCK, 3), (err: unknown) => err instanceof GrexError && err.code === 'GREX_ERR_STORE_CORRUPT');
    await assert.rejects(clock.accept(FLOCK, 3), (err: unknown) => err instanceof GrexError && err.code === 'GREX_ERR_STORE_CORRUPT');
    // Once the metadata reads again, the clock loads it (a failed load is not remembered).
    await backend.writeFlockMeta(FLOCK, bytes);
    assert.equal(await clock.promised(FLOCK), 5);
  });
});

/** An ItemStore over a filesystem backend in `dir`, opened. */
async function openFsStore(dir: string): Promise<ItemStore> {
  const store = new ItemStore(new FsBackend({ dir, fsync: 'always' }));
  await store.open();
  return store;
}

describe('FlockClock over a filesystem store', () => {
  test('promises and reservations survive closing and reopening the store', async (t) => {
    const dir = await tempDir(t);
    const open = () => openFsStore(dir);
    const first = await open();
    const clock = new FlockClock(first, 4);
    assert.equal((await clock.promise(FLOCK, 3)).promised, true);
    const handed = await clock.next(FLOCK, 6, 3);
    await clock.observe(FLOCK, { term: 3, seq: 40 });
    await first.close();

    const second = await open();
    const again = new FlockClock(second, 4);
    assert.equal(await again.promised(FLOCK), 3);
    assert.equal((await again.promise(FLOCK, 3)).promised, false);
    const [next] = await again.next(FLOCK, 1, 3);
    assert.ok(next!.seq > 40 && next!.seq > handed.at(-1)!.seq, `seq ${next!.seq} after a restart`);
    await second.close();
  });

  test('a basis is recorded only while herding, never lowered, survives a reopen, and is forgotten when the copy is dropped', async (t) => {
    const dir = await tempDir(t);
    const open = () => openFsStore(dir);
    const first = await open();
    const clock = new FlockClock(first);
    await clock.setBasis(FLOCK, 2);
    assert.equal(await clock.basis(FLOCK), 0, 'a node that does not herd the flock has no basis');
    await clock.promise(FLOCK, 3, { herd: true });
    await clock.setBasis(FLOCK, 3);
    await clock.setBasis(FLOCK, 2);
    assert.equal(await clock.basis(FLOCK), 3, 'never lowered');
    await clock.promise(FLOCK, 5);
    assert.equal(await clock.basis(FLOCK), 3, 'a promise keeps it');
    await first.close();

    const second = await open();
    const again = new FlockClock(second);
    assert.equal(await again.basis(FLOCK), 3);
    assert.equal(await again.promised(FLOCK), 5);
    await again.setHerding(FLOCK, false);
    assert.equal(await again.basis(FLOCK), 0, 'a dropped copy is the basis of nothing');
    await second.close();
    const third = await open();
    assert.equal(await new FlockClock(third).basis(FLOCK), 0);
    await third.close();
  });

  test('a learner starts herding with its basis in one metadata write', async () => {
    const backend = new CountingMetaBackend();
    const clock = new FlockClock(new ItemStore(backend));
    assert.equal(await clock.accept(FLOCK, 4), true);
    const before = backend.metaWrites;
    await clock.setHerding(FLOCK, true, { basis: 4 });
    assert.equal(backend.metaWrites - before, 1, 'one write for both');
    assert.equal(await clock.herding(FLOCK), true);
    assert.equal(await clock.basis(FLOCK), 4);
    // Read back as stored.
    const again = new FlockClock(new ItemStore(backend));
    assert.equal(await again.herding(FLOCK), true);
    assert.equal(await again.basis(FLOCK), 4);
    // Nothing new to record: no write; a lower basis is ignored.
    await clock.setHerding(FLOCK, true, { basis: 3 });
    assert.equal(backend.metaWrites - before, 1);
    assert.equal(await clock.basis(FLOCK), 4);
  });
});

/** A memory backend that counts metadata writes. */
class CountingMetaBackend extends MemoryBackend {
  metaWrites = 0;
  override async writeFlockMeta(flock: number, bytes: Uint8Array): Promise<void> {
    this.metaWrites++;
    return super.writeFlockMeta(flock, bytes);
  }
}
