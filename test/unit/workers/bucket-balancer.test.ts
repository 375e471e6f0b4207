// Bucket affinity: slots keep their threads, a replaced thread takes the free slot.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createSlotBalancer, slotOf, ThreadSlots, type WorkerLike } from '../../../src/workers/bucket-balancer.js';
import { fnv1a32 } from '../../../src/keys.js';

const worker = (id: number, extra: Partial<WorkerLike> = {}): WorkerLike => ({ id, destroyed: false, terminating: false, ...extra });

describe('slotOf', () => {
  test('a bucket always maps to the same slot, in range', () => {
    for (let i = 0; i < 1000; i++) {
      const hash = fnv1a32(`customer-${i}`);
      const slot = slotOf(hash, 3);
      assert.ok(slot >= 0 && slot < 3);
      assert.equal(slotOf(hash, 3), slot);
    }
  });

  test('buckets spread over every slot, also among buckets of one flock', () => {
    const counts = [0, 0, 0, 0];
    let seen = 0;
    for (let i = 0; seen < 400; i++) {
      const hash = fnv1a32(`k${i}`);
      if ((hash & 1023) % 4 !== 0) continue; // flocks that a plain hash % 4 would put all in slot 0
      counts[slotOf(hash, 4)]!++;
      seen++;
    }
    assert.ok(counts.every((c) => c > 40), `uneven spread ${counts}`);
  });
});

describe('ThreadSlots', () => {
  test('returns null for a slot until its thread exists', () => {
    const slots = new ThreadSlots(2);
    assert.equal(slots.pick(1, [worker(1)]), null);
    assert.equal(slots.pick(0, [worker(1)])?.id, 1);
    assert.equal(slots.pick(1, [worker(1), worker(2)])?.id, 2);
  });

  test('a replacement thread takes the slot of the one that died; other slots keep theirs', () => {
    const slots = new ThreadSlots(3);
    slots.pick(0, [worker(1), worker(2), worker(3)]);
    assert.deepEqual(slots.ids(), [1, 2, 3]);
    // Thread 2 is terminating (its job timed out): its slot waits for the replacement.
    assert.equal(slots.pick(1, [worker(1), worker(2, { terminating: true }), worker(3)]), null);
    assert.equal(slots.pick(0, [worker(1), worker(3)])?.id, 1);
    assert.equal(slots.pick(1, [worker(1), worker(3), worker(4)])?.id, 4);
    assert.deepEqual(slots.ids(), [1, 4, 3]);
  });

  test('the balancer reads the slot from the task queue options', () => {
    const symbol = Symbol('queueOptions');
    const { balancer } = createSlotBalancer(2, symbol);
    const workers = [worker(10), worker(11)];
    assert.equal(balancer({ [symbol]: { slot: 1 } }, workers)?.id, 11);
    assert.equal(balancer({ [symbol]: { slot: 0 } }, workers)?.id, 10);
  });
});
