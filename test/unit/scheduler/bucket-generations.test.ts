// BucketGenerations: generations never repeat, bumps invalidate, forgotten buckets get fresh ones.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BucketGenerations } from '../../../src/scheduler/bucket-generations.js';

describe('BucketGenerations', () => {
  test('a bucket keeps its generation until it changes', () => {
    const gens = new BucketGenerations();
    const g = gens.current('a');
    assert.equal(gens.current('a'), g);
    assert.notEqual(gens.current('b'), g);
  });

  test('bump gives a generation never handed out before', () => {
    const gens = new BucketGenerations();
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) {
      seen.add(gens.current(`b${i % 7}`));
      gens.bump(`b${i % 7}`);
      seen.add(gens.fresh());
    }
    seen.add(gens.current('b0'));
    assert.equal(seen.size, 201);
  });

  test('set records the generation a committing job assumed', () => {
    const gens = new BucketGenerations();
    gens.current('a');
    const next = gens.fresh();
    gens.set('a', next);
    assert.equal(gens.current('a'), next);
  });

  test('a forgotten bucket comes back with a new generation, never an old one', () => {
    const gens = new BucketGenerations(2);
    const a = gens.current('a');
    gens.current('b');
    gens.current('c'); // evicts a
    assert.ok(gens.current('a') > a);
  });

  test('set and bump on a known bucket record the new epoch too', () => {
    const gens = new BucketGenerations();
    const first = gens.current('a', 1);
    const next = gens.fresh();
    gens.set('a', next, 2);
    assert.equal(gens.current('a', 2), next);
    const stale = gens.current('a', 1);
    assert.ok(stale > next && stale !== first, 'asked under another epoch: a fresh generation');
    gens.bump('a', 3);
    const bumped = gens.current('a', 3);
    assert.ok(bumped > stale);
    assert.equal(gens.current('a', 3), bumped);
  });
});

