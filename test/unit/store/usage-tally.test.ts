// The running count of a store's records (src/store/usage-tally.ts): the census of
// what was on disk at start, changes before, during and after it, and flocks
// created while the census lists them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UsageTally } from '../../../src/store/usage-tally.js';

/** A promise the test settles. */
function gate<T>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  return { promise: new Promise<T>((resolve) => (open = resolve)), open };
}

describe('UsageTally', () => {
  test('counts every listed flock once, then follows changes', async () => {
    const tally = new UsageTally();
    assert.equal(tally.usage.counted, false);
    const disk = new Map([[1, { items: 3, bytes: 300 }], [4, { items: 1, bytes: 10 }]]);
    await tally.census(async () => [...disk.keys()], async (flock) => disk.get(flock)!, () => false);
    assert.deepEqual(tally.usage, { items: 4, bytes: 310, counted: true });
    tally.change(1, 1, 50); // a new record
    tally.change(4, 0, 5); // a replaced one, 5 bytes larger
    tally.change(9, 1, 7); // a record in a flock that was empty
    tally.change(1, -1, -100); // a removed one
    assert.deepEqual(tally.usage, { items: 5, bytes: 272, counted: true });
  });

  test('a change to a flock not counted yet is left to its census; one to a counted flock applies', async () => {
    const tally = new UsageTally();
    const second = gate<{ items: number; bytes: number }>();
    const census = tally.census(
      async () => [1, 2],
      (flock) => (flock === 1 ? Promise.resolve({ items: 2, bytes: 20 }) : second.promise),
      () => false,
    );
    await new Promise((resolve) => setImmediate(resolve));
    tally.change(1, 1, 10); // flock 1 is counted: applies
    // Flock 2 is being counted: the census starts it again (it may or may not have seen this file).
    tally.change(2, 1, 10);
    second.open({ items: 5, bytes: 50 });
    await census;
    assert.deepEqual(tally.usage, { items: 2 + 1 + 5, bytes: 20 + 10 + 50, counted: true });
  });

  test('a flock whose census raced a write is counted again', async () => {
    const tally = new UsageTally();
    let counts = 0;
    await tally.census(
      async () => [7],
      async () => {
        counts++;
        if (counts === 1) tally.change(7, 1, 40); // written while its folder is read
        return { items: counts === 1 ? 1 : 2, bytes: counts === 1 ? 10 : 50 };
      },
      () => false,
    );
    assert.equal(counts, 2);
    assert.deepEqual(tally.usage, { items: 2, bytes: 50, counted: true });
  });

  test('changes while the flocks are listed: listed flocks leave them to the census, new flocks keep them', async () => {
    const tally = new UsageTally();
    const listing = gate<number[]>();
    const census = tally.census(() => listing.promise, async () => ({ items: 1, bytes: 10 }), () => false);
    tally.change(3, 1, 10); // flock 3 is in the listing: its census sees this record
    tally.change(8, 1, 20); // flock 8 was created after the listing read the folder
    listing.open([3]);
    await census;
    assert.deepEqual(tally.usage, { items: 2, bytes: 30, counted: true });
  });

  test('a stopped census leaves the count partial', async () => {
    const tally = new UsageTally();
    let stop = false;
    await tally.census(
      async () => [1, 2],
      async () => {
        stop = true;
        return { items: 1, bytes: 1 };
      },
      () => stop,
    );
    assert.equal(tally.usage.counted, false);
  });
});
