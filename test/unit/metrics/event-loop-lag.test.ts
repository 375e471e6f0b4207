// Event-loop lag windows (src/metrics/event-loop-lag.ts), fed sample times by
// the test: on-time samples are no lag, a late one is its lateness less the
// interval, a window is what came since the previous take, and the sample that
// follows a take still measures from the last sample before it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LagWindow } from '../../../src/metrics/event-loop-lag.js';

describe('event-loop lag window', () => {
  test('an empty window reads 0', () => {
    assert.deepEqual(new LagWindow(10, 0).take(), { max: 0, p99: 0, p50: 0, samples: 0 });
  });

  test('on-time samples are no lag; a late one is its lateness less the interval', () => {
    const window = new LagWindow(10, 1000);
    for (let t = 1010; t <= 1500; t += 10) window.tick(t);
    window.tick(1810); // due at 1510: 300 ms late
    const lag = window.take();
    assert.equal(lag.samples, 51);
    assert.ok(Math.abs(lag.max - 0.3) < 0.001, `max ${lag.max}`);
    assert.equal(lag.p50, 0);
    assert.ok(lag.p99 <= lag.max);
  });

  test('a take starts a new window, and the next sample measures from the last one before it', () => {
    const window = new LagWindow(10, 0);
    window.tick(10);
    window.tick(60); // 40 ms late
    assert.ok(Math.abs(window.take().max - 0.04) < 0.0001);
    window.tick(320); // due at 70: 250 ms late, although the take came in between
    const lag = window.take();
    assert.equal(lag.samples, 1);
    assert.ok(Math.abs(lag.max - 0.25) < 0.001, `max ${lag.max}`);
    assert.equal(window.take().samples, 0);
  });
});
