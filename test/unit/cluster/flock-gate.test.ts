// FlockGates (src/cluster/flock-gate.ts), the per-flock readers-writer gate:
// shared holders run together; an exclusive one waits for every shared
// holder and runs alone; shared calls that arrive while an exclusive one
// waits run after it (exclusives are not starved); different flocks never
// block each other; a holder that throws still releases the gate. Every step
// is driven by explicitly released promises, no timers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FlockGates } from '../../../src/cluster/flock-gate.js';

interface Held {
  /** Resolves once the holder's function started. */
  started: Promise<void>;
  isRunning: () => boolean;
  hasStarted: () => boolean;
  /** Lets the holder's function finish (with an error if given). */
  finish: (err?: Error) => void;
  /** The gate call itself. */
  done: Promise<string>;
}

/** Calls the gate with a function that runs until `finish`, logging start and end. */
function hold(log: string[], name: string, call: (fn: () => Promise<string>) => Promise<string>): Held {
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  let release!: (err?: Error) => void;
  const released = new Promise<void>((resolve, reject) => (release = (err) => (err === undefined ? resolve() : reject(err))));
  let running = false;
  let begun = false;
  const done = call(async () => {
    running = true;
    begun = true;
    log.push(`${name}+`);
    markStarted();
    try {
      await released;
      return name;
    } finally {
      running = false;
      log.push(`${name}-`);
    }
  });
  done.catch(() => {});
  return { started, isRunning: () => running, hasStarted: () => begun, finish: release, done };
}

/** Lets every queued callback and promise continuation run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('FlockGates', () => {
  test('shared holders of a flock run together', async () => {
    const gates = new FlockGates();
    const log: string[] = [];
    const a = hold(log, 'a', (fn) => gates.shared(1, fn));
    const b = hold(log, 'b', (fn) => gates.shared(1, fn));
    const c = hold(log, 'c', (fn) => gates.shared(1, fn));
    await Promise.all([a.started, b.started, c.started]);
    assert.ok(a.isRunning() && b.isRunning() && c.isRunning());
    b.finish();
    a.finish();
    c.finish();
    assert.deepEqual(await Promise.all([a.done, b.done, c.done]), ['a', 'b', 'c']);
  });

  test('an exclusive holder waits for every shared holder, then runs alone', async () => {
    const gates = new FlockGates();
    const log: string[] = [];
    const a = hold(log, 'a', (fn) => gates.shared(1, fn));
    const b = hold(log, 'b', (fn) => gates.shared(1, fn));
    await Promise.all([a.started, b.started]);
    const x = hold(log, 'x', (fn) => gates.exclusive(1, fn));
    await settle();
    assert.equal(x.hasStarted(), false);
    a.finish();
    await a.done;
    await settle();
    assert.equal(x.hasStarted(), false, 'one shared holder is still in');
    b.finish();
    await x.started;
    const y = hold(log, 'y', (fn) => gates.exclusive(1, fn));
    const c = hold(log, 'c', (fn) => gates.shared(1, fn));
    await settle();
    assert.equal(y.hasStarted(), false, 'exclusive holders run one at a time');
    assert.equal(c.hasStarted(), false);
    x.finish();
    await y.started;
    assert.equal(c.hasStarted(), false);
    y.finish();
    await c.started;
    c.finish();
    await Promise.all([x.done, y.done, c.done]);
    assert.deepEqual(log, ['a+', 'b+', 'a-', 'b-', 'x+', 'x-', 'y+', 'y-', 'c+', 'c-']);
  });

  test('shared calls that arrive while an exclusive one waits run after it', async () => {
    const gates = new FlockGates();
    const log: string[] = [];
    const a = hold(log, 'a', (fn) => gates.shared(4, fn));
    await a.started;
    const x = hold(log, 'x', (fn) => gates.exclusive(4, fn));
    // A steady stream of shared calls must not keep the exclusive one out.
    const late = Array.from({ length: 5 }, (_, i) => hold(log, `s${i}`, (fn) => gates.shared(4, fn)));
    await settle();
    assert.ok(late.every((s) => !s.hasStarted()));
    a.finish();
    await x.started;
    assert.ok(late.every((s) => !s.hasStarted()));
    x.finish();
    await Promise.all(late.map((s) => s.started));
    assert.ok(late.every((s) => s.isRunning()), 'the waiting shared calls are let in together');
    // They hold the gate like any shared holder: a new exclusive one waits for all of them.
    const y = hold(log, 'y', (fn) => gates.exclusive(4, fn));
    for (const s of late.slice(0, 4)) s.finish();
    await Promise.all(late.slice(0, 4).map((s) => s.done));
    await settle();
    assert.equal(y.hasStarted(), false, 'one shared holder is still in');
    late[4]!.finish();
    await y.started;
    y.finish();
    await Promise.all([a.done, x.done, y.done, ...late.map((s) => s.done)]);
    assert.deepEqual(log.slice(0, 4), ['a+', 'a-', 'x+', 'x-']);
    assert.deepEqual(log.slice(-2), ['y+', 'y-']);
  });

  test('different flocks never block each other', async () => {
    const gates = new FlockGates();
    const log: string[] = [];
    const x1 = hold(log, 'x1', (fn) => gates.exclusive(1, fn));
    const x2 = hold(log, 'x2', (fn) => gates.exclusive(2, fn));
    const s3 = hold(log, 's3', (fn) => gates.shared(3, fn));
    await Promise.all([x1.started, x2.started, s3.started]);
    const x3 = hold(log, 'x3', (fn) => gates.exclusive(3, fn));
    const s1 = hold(log, 's1', (fn) => gates.shared(1, fn));
    const s4 = hold(log, 's4', (fn) => gates.shared(4, fn));
    await s4.started;
    await settle();
    assert.equal(x3.hasStarted(), false);
    assert.equal(s1.hasStarted(), false);
    s3.finish();
    await x3.started;
    assert.equal(s1.hasStarted(), false, 'flock 1 is still held');
    x1.finish();
    await s1.started;
    for (const h of [x2, x3, s1, s4]) h.finish();
    await Promise.all([x1, x2, s3, x3, s1, s4].map((h) => h.done));
  });

  test('a shared holder that throws releases the gate', async () => {
    const gates = new FlockGates();
    const log: string[] = [];
    const a = hold(log, 'a', (fn) => gates.shared(5, fn));
    await a.started;
    const x = hold(log, 'x', (fn) => gates.exclusive(5, fn));
    a.finish(new Error('commit failed'));
    await assert.rejects(a.done, /commit failed/);
    await x.started;
    x.finish();
    assert.equal(await x.done, 'x');
  });

  test('an exclusive holder that throws releases the gate', async () => {
    const gates = new FlockGates();
    const log: string[] = [];
    const x = hold(log, 'x', (fn) => gates.exclusive(5, fn));
    await x.started;
    const s = hold(log, 's', (fn) => gates.shared(5, fn));
    const y = hold(log, 'y', (fn) => gates.exclusive(5, fn));
    x.finish(new Error('promise failed'));
    await assert.rejects(x.done, /promise failed/);
    await y.started;
    y.finish(new Error('again'));
    await assert.rejects(y.done, /again/);
    await s.started;
    s.finish();
    assert.equal(await s.done, 's');
    // The gate is usable afterwards in both modes.
    assert.equal(await gates.exclusive(5, async () => 'alone'), 'alone');
    assert.equal(await gates.shared(5, async () => 'together'), 'together');
  });

  test('a function that throws at once (synchronously or with a rejected promise) also releases the gate', async () => {
    const gates = new FlockGates();
    await assert.rejects(gates.exclusive(6, () => Promise.reject(new Error('no'))), /no/);
    await assert.rejects(gates.shared(6, () => Promise.reject(new Error('no'))), /no/);
    await assert.rejects(
      gates.exclusive(6, () => {
        throw new Error('sync');
      }),
      /sync/,
    );
    await assert.rejects(
      gates.shared(6, () => {
        throw new Error('sync');
      }),
      /sync/,
    );
    assert.equal(await gates.exclusive(6, async () => 1), 1);
    assert.equal(await gates.shared(6, async () => 2), 2);
  });
});

describe('idle gates', () => {
  test('are kept for reuse up to a bound, then swept out together; a busy gate is never swept', async () => {
    const gates = new FlockGates();
    const log: string[] = [];
    const busy = hold(log, 'busy', (fn) => gates.exclusive(5000, fn));
    await busy.started;
    for (let flock = 0; flock < 1024; flock++) await gates.shared(flock, async () => 'x');
    // 1,024 idle gates (the bound) and the busy one.
    assert.equal(gates.size, 1025);
    await gates.shared(1024, async () => 'x');
    // One more idle gate than the bound: every idle gate goes, the busy one stays and still excludes.
    assert.equal(gates.size, 1);
    const waiting = hold(log, 'after', (fn) => gates.shared(5000, fn));
    await settle();
    assert.equal(waiting.hasStarted(), false);
    busy.finish();
    await waiting.started;
    waiting.finish();
    assert.deepEqual(await Promise.all([busy.done, waiting.done]), ['busy', 'after']);
  });

  test('a kept gate works as a new one: shared holders together, an exclusive one alone', async () => {
    const gates = new FlockGates();
    await gates.shared(7, async () => 'warm');
    const log: string[] = [];
    const a = hold(log, 'a', (fn) => gates.shared(7, fn));
    const b = hold(log, 'b', (fn) => gates.shared(7, fn));
    await Promise.all([a.started, b.started]);
    const x = hold(log, 'x', (fn) => gates.exclusive(7, fn));
    await settle();
    assert.equal(x.hasStarted(), false);
    a.finish();
    b.finish();
    await x.started;
    const c = hold(log, 'c', (fn) => gates.shared(7, fn));
    await settle();
    assert.equal(c.hasStarted(), false);
    x.finish();
    await c.started;
    c.finish();
    await Promise.all([a.done, b.done, x.done, c.done]);
    assert.equal(gates.size, 1);
  });
});
