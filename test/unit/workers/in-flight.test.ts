// InFlight (src/workers/in-flight.ts): the jobs on a line under small, reused numbers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InFlight } from '../../../src/workers/in-flight.js';

describe('InFlight', () => {
  test('each item gets a number of its own while held; a taken number is reused', () => {
    const jobs = new InFlight<string>();
    const a = jobs.add('a');
    const b = jobs.add('b');
    assert.notEqual(a, b);
    assert.equal(jobs.size, 2);
    assert.equal(jobs.take(a), 'a');
    assert.equal(jobs.take(a), undefined, 'taken once');
    const c = jobs.add('c');
    assert.equal(c, a, 'the free number is reused');
    assert.equal(jobs.take(c), 'c');
    assert.equal(jobs.take(b), 'b');
    assert.equal(jobs.size, 0);
  });

  test('holds tells an item from a later one under the same number', () => {
    const jobs = new InFlight<{ name: string }>();
    const first = { name: 'first' };
    const n = jobs.add(first);
    assert.ok(jobs.holds(n, first));
    jobs.take(n);
    const second = { name: 'second' };
    assert.equal(jobs.add(second), n);
    assert.equal(jobs.holds(n, first), false, 'the first one was answered: not still running');
    assert.ok(jobs.holds(n, second));
    assert.equal(jobs.take(99), undefined);
  });

  test('takeAll empties it and numbering starts over', () => {
    const jobs = new InFlight<number>();
    for (let i = 0; i < 5; i++) jobs.add(i * 10);
    jobs.take(2);
    assert.deepEqual(jobs.takeAll(), [0, 10, 30, 40]);
    assert.equal(jobs.size, 0);
    assert.equal(jobs.add(7), 0);
  });
});
