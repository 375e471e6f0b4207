/**
 * A readers-writer gate per flock. Commits (the active node's own and
 * replicated ones) pass together; a promise of a new term passes alone, so
 * that the listing it sends with the promise holds every write this node
 * accepted before promising, and no write of the old term is accepted after.
 * A waiting promise holds back new commits, so claims are not starved.
 */
import { KeptMap } from '../kept-map.js';

interface Gate {
  readers: number;
  writer: boolean;
  waitingWriters: (() => void)[];
  waitingReaders: (() => void)[];
}

export class FlockGates {
  /** Idle gates are kept for reuse (kept-map.ts: no Map table to regrow every commit). */
  readonly #gates = new KeptMap<number, Gate>({ isIdle, make: () => ({ readers: 0, writer: false, waitingWriters: [], waitingReaders: [] }) });

  #release(gate: Gate): void {
    if (gate.writer || gate.readers > 0) return;
    const writer = gate.waitingWriters.shift();
    if (writer !== undefined) {
      gate.writer = true;
      writer();
      return;
    }
    if (gate.waitingReaders.length > 0) {
      const readers = gate.waitingReaders.splice(0);
      gate.readers += readers.length;
      for (const reader of readers) reader();
    }
    if (gate.readers === 0) this.#gates.wentIdle();
  }

  /** Gates held (busy and idle), for tests. */
  get size(): number {
    return this.#gates.size;
  }

  /** Runs `fn` alongside other shared holders, never alongside an exclusive one. */
  async shared<T>(flock: number, fn: () => Promise<T>): Promise<T> {
    const gate = this.#gates.use(flock);
    if (gate.writer || gate.waitingWriters.length > 0) await new Promise<void>((resolve) => gate.waitingReaders.push(resolve));
    else gate.readers++;
    try {
      return await fn();
    } finally {
      gate.readers--;
      this.#release(gate);
    }
  }

  /** Runs `fn` alone once every shared holder is done. */
  async exclusive<T>(flock: number, fn: () => Promise<T>): Promise<T> {
    const gate = this.#gates.use(flock);
    if (gate.writer || gate.readers > 0) await new Promise<void>((resolve) => gate.waitingWriters.push(resolve));
    else gate.writer = true;
    try {
      return await fn();
    } finally {
      gate.writer = false;
      this.#release(gate);
    }
  }
}

function isIdle(gate: Gate): boolean {
  return !gate.writer && gate.readers === 0 && gate.waitingWriters.length === 0 && gate.waitingReaders.length === 0;
}
