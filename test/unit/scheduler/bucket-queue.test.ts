// BucketQueue: per-bucket FIFO, one running task per bucket, bounded backlogs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BucketQueue } from '../../../src/scheduler/bucket-queue.js';

/** A task that runs until released, recording when it starts. */
function gate(log: string[], name: string) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  return { task: async () => { log.push(`start ${name}`); await released; log.push(`end ${name}`); }, release };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('BucketQueue', () => {
  test('tasks of one bucket run one at a time, in order', async () => {
    const queue = new BucketQueue({ maxPerBucket: 10, maxTotal: 100 });
    const log: string[] = [];
    const a1 = gate(log, 'a1');
    const a2 = gate(log, 'a2');
    const a3 = gate(log, 'a3');
    for (const g of [a1, a2, a3]) assert.equal(queue.push('a', g.task), 'accepted');
    await flush();
    assert.deepEqual(log, ['start a1']);
    a1.release();
    await flush();
    assert.deepEqual(log, ['start a1', 'end a1', 'start a2']);
    a2.release();
    a3.release();
    await queue.idle();
    assert.deepEqual(log, ['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
    assert.equal(queue.size, 0);
    assert.equal(queue.activeBuckets, 0);
  });

  test('tasks of different buckets run at the same time', async () => {
    const queue = new BucketQueue({ maxPerBucket: 10, maxTotal: 100 });
    const log: string[] = [];
    const gates = ['a', 'b', 'c'].map((bucket) => gate(log, bucket));
    gates.forEach((g, i) => queue.push(['a', 'b', 'c'][i]!, g.task));
    await flush();
    assert.deepEqual(log, ['start a', 'start b', 'start c']);
    assert.equal(queue.activeBuckets, 3);
    gates.forEach((g) => g.release());
    await queue.idle();
  });

  test('a full bucket backlog refuses more tasks of that bucket only', async () => {
    const queue = new BucketQueue({ maxPerBucket: 2, maxTotal: 100 });
    const log: string[] = [];
    const running = gate(log, 'a1');
    assert.equal(queue.push('a', running.task), 'accepted');
    assert.equal(queue.push('a', async () => {}), 'accepted');
    assert.equal(queue.push('a', async () => {}), 'accepted');
    assert.equal(queue.backlog('a'), 2);
    assert.equal(queue.push('a', async () => {}), 'bucket-full');
    assert.equal(queue.push('b', async () => {}), 'accepted');
    running.release();
    await queue.idle();
    assert.equal(queue.push('a', async () => {}), 'accepted');
    await queue.idle();
  });

  test('the node-wide limit counts running and waiting tasks', async () => {
    const queue = new BucketQueue({ maxPerBucket: 10, maxTotal: 3 });
    const log: string[] = [];
    const gates = [gate(log, '1'), gate(log, '2'), gate(log, '3')];
    assert.equal(queue.push('a', gates[0]!.task), 'accepted');
    assert.equal(queue.push('a', gates[1]!.task), 'accepted');
    assert.equal(queue.push('b', gates[2]!.task), 'accepted');
    assert.equal(queue.size, 3);
    assert.equal(queue.push('c', async () => {}), 'node-full');
    gates[0]!.release();
    await flush();
    await flush();
    assert.equal(queue.size, 2);
    assert.equal(queue.push('c', async () => {}), 'accepted');
    gates.forEach((g) => g.release());
    await queue.idle();
    assert.equal(queue.size, 0);
  });

  test('idle() resolves at once when empty and after the last task otherwise', async () => {
    const queue = new BucketQueue({ maxPerBucket: 1, maxTotal: 10 });
    await queue.idle();
    const log: string[] = [];
    const g = gate(log, 'x');
    queue.push('x', g.task);
    let idle = false;
    const waiting = queue.idle().then(() => (idle = true));
    await flush();
    assert.equal(idle, false);
    g.release();
    await waiting;
    assert.equal(idle, true);
  });

  test('idle buckets are kept up to a bound, then swept; a kept bucket queues like a new one', async () => {
    const queue = new BucketQueue({ maxPerBucket: 10, maxTotal: 5000 });
    const log: string[] = [];
    const busy = gate(log, 'busy');
    queue.push('busy', busy.task);
    for (let i = 0; i < 1024; i++) queue.push(`b${i}`, async () => {});
    await flush();
    assert.equal(queue.heldBuckets, 1025, 'the 1,024 idle buckets are kept, and the running one');
    assert.equal(queue.activeBuckets, 1);
    queue.push('one-more', async () => {});
    await flush();
    assert.equal(queue.heldBuckets, 1, 'past the bound every idle bucket goes; the running one stays');
    // The running bucket still serialises its tasks.
    const next = gate(log, 'busy-2');
    assert.equal(queue.push('busy', next.task), 'accepted');
    assert.equal(queue.backlog('busy'), 1);
    // A kept idle bucket runs its next task at once and queues the one after.
    queue.push('kept', async () => {});
    await flush();
    const k1 = gate(log, 'k1');
    const k2 = gate(log, 'k2');
    queue.push('kept', k1.task);
    queue.push('kept', k2.task);
    await flush();
    assert.deepEqual(log, ['start busy', 'start k1']);
    assert.equal(queue.activeBuckets, 2);
    for (const g of [busy, next, k1, k2]) g.release();
    await queue.idle();
    assert.deepEqual(log.filter((l) => l.includes('k')), ['start k1', 'end k1', 'start k2', 'end k2']);
    assert.equal(queue.activeBuckets, 0);
    assert.equal(queue.size, 0);
  });
});
