// KeptMap (src/kept-map.ts): idle entries stay for reuse up to a bound, then go together; busy ones always stay.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeptMap } from '../../src/kept-map.js';

describe('KeptMap', () => {
  const entries = (kept: number) => new KeptMap<string, { busy: boolean }>({ isIdle: (e) => !e.busy, make: () => ({ busy: false }), kept });

  test('use makes an entry once and hands the same one back', () => {
    const map = entries(2);
    const a = map.use('a');
    assert.equal(map.use('a'), a);
    assert.equal(map.get('a'), a);
    assert.equal(map.get('b'), undefined);
    assert.equal(map.size, 1);
  });

  test('idle entries stay up to the bound; one more and every idle entry goes, busy ones stay', () => {
    const map = entries(2);
    const busy = map.use('busy');
    busy.busy = true;
    for (const key of ['a', 'b']) {
      map.use(key);
      map.wentIdle();
    }
    assert.equal(map.size, 3);
    map.use('c');
    map.wentIdle();
    assert.equal(map.size, 1);
    assert.equal(map.get('busy'), busy);
  });

  test('an idle entry used again no longer counts as idle', () => {
    const map = entries(2);
    for (const key of ['a', 'b']) {
      map.use(key);
      map.wentIdle();
    }
    // 'a' busy again, then idle again: still two idle entries, none swept.
    map.use('a').busy = true;
    map.get('a')!.busy = false;
    map.wentIdle();
    assert.equal(map.size, 2);
  });
});
