// Write quorums (src/cluster/quorum.ts): quorumSize for majority, all and
// numbers (clamped), the QuorumCount states over sequences of acks and
// failures, and parsing of the writeQuorum option.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseWriteQuorum, QuorumCount, quorumSize, type WriteQuorum } from '../../../src/cluster/quorum.js';

describe('quorumSize', () => {
  test('majority is more than half of the herders', () => {
    const expected = [1, 2, 2, 3, 3, 4, 4];
    for (let herders = 1; herders <= 7; herders++) assert.equal(quorumSize(herders, 'majority'), expected[herders - 1], `${herders} herders`);
  });

  test('all is every herder', () => {
    for (let herders = 1; herders <= 7; herders++) assert.equal(quorumSize(herders, 'all'), herders);
  });

  test('a number is clamped to the number of herders and to at least 1', () => {
    assert.equal(quorumSize(5, 2), 2);
    assert.equal(quorumSize(5, 5), 5);
    assert.equal(quorumSize(3, 5), 3);
    assert.equal(quorumSize(1, 3), 1);
    assert.equal(quorumSize(3, 0), 1);
    assert.equal(quorumSize(3, -2), 1);
    assert.equal(quorumSize(4, 2.9), 2);
  });

  test('a flock without herders needs the one local write', () => {
    for (const quorum of ['majority', 'all', 3] as const) assert.equal(quorumSize(0, quorum), 1);
  });
});

describe('QuorumCount', () => {
  type Step = 'ack' | 'fail';
  const cases: ReadonlyArray<readonly [string, number, WriteQuorum, readonly Step[], readonly ('reached' | 'lost' | 'open')[]]> = [
    ['majority of 3: two acks reach it', 3, 'majority', ['ack', 'ack'], ['open', 'reached']],
    ['majority of 3: stays reached after later failures', 3, 'majority', ['ack', 'ack', 'fail'], ['open', 'reached', 'reached']],
    ['majority of 3: one failure leaves it open', 3, 'majority', ['fail', 'ack', 'ack'], ['open', 'open', 'reached']],
    ['majority of 3: two failures lose it', 3, 'majority', ['ack', 'fail', 'fail'], ['open', 'open', 'lost']],
    ['majority of 5: two failures leave it open, a third loses it', 5, 'majority', ['fail', 'fail', 'ack', 'fail'], ['open', 'open', 'open', 'lost']],
    ['all of 3: one failure loses it', 3, 'all', ['ack', 'fail'], ['open', 'lost']],
    ['all of 3: three acks reach it', 3, 'all', ['ack', 'ack', 'ack'], ['open', 'open', 'reached']],
    ['2 of 5: three failures leave it open', 5, 2, ['fail', 'fail', 'fail', 'ack', 'ack'], ['open', 'open', 'open', 'open', 'reached']],
    ['2 of 5: four failures lose it', 5, 2, ['fail', 'fail', 'fail', 'fail'], ['open', 'open', 'open', 'lost']],
    ['1 of 1: one ack reaches it', 1, 1, ['ack'], ['reached']],
    ['majority of 1: one failure loses it', 1, 'majority', ['fail'], ['lost']],
  ];
  for (const [name, herders, quorum, steps, states] of cases) {
    test(name, () => {
      const count = new QuorumCount(herders, quorum);
      assert.equal(count.state, 'open');
      assert.equal(count.total, herders);
      assert.equal(count.needed, quorumSize(herders, quorum));
      steps.forEach((step, i) => {
        if (step === 'ack') count.ack();
        else count.fail();
        assert.equal(count.state, states[i], `after ${steps.slice(0, i + 1).join(', ')}`);
      });
      assert.equal(count.acks, steps.filter((s) => s === 'ack').length);
    });
  }
});

describe('parseWriteQuorum', () => {
  test('accepts majority, all and positive integers (numbers or digit strings)', () => {
    assert.equal(parseWriteQuorum('majority'), 'majority');
    assert.equal(parseWriteQuorum('all'), 'all');
    assert.equal(parseWriteQuorum('2'), 2);
    assert.equal(parseWriteQuorum(2), 2);
    assert.equal(parseWriteQuorum('1'), 1);
    assert.equal(parseWriteQuorum(7), 7);
  });

  for (const value of ['0', 0, -1, '-1', 'x', 1.5, '1.5', '', ' 2', 'Majority', NaN, Infinity, null, undefined, true, [2], { n: 2 }]) {
    test(`refuses ${typeof value === 'string' ? JSON.stringify(value) : String(value)}${typeof value === 'object' && value !== null ? ' (an object)' : ''}`, () => {
      assert.equal(parseWriteQuorum(value), null);
    });
  }
});
