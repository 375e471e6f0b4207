/**
 * Hands out item versions (term, seq) per flock.
 *
 * `seq` grows by one per committed item in a flock. So that a restart never
 * reuses a seq, the clock reserves blocks: before handing out seq N it has
 * durably recorded a reservation >= N in the flock's metadata, and after a
 * restart it continues above the recorded reservation. One small metadata
 * write per `reserveBlock` versions, instead of one per commit.
 */
import type { ItemStore } from '../store/item-store.js';
import type { Version } from '../store/version.js';

interface FlockState {
  term: number;
  /** Next seq to hand out. */
  next: number;
  /** Highest seq durably reserved. */
  reserved: number;
  reserving: Promise<void> | null;
}

export const DEFAULT_RESERVE_BLOCK = 10_000;

export class FlockClock {
  readonly #store: ItemStore;
  readonly #reserveBlock: number;
  readonly #flocks = new Map<number, Promise<FlockState>>();

  constructor(store: ItemStore, reserveBlock = DEFAULT_RESERVE_BLOCK) {
    this.#store = store;
    this.#reserveBlock = reserveBlock;
  }

  #state(flock: number): Promise<FlockState> {
    let state = this.#flocks.get(flock);
    if (state === undefined) {
      state = this.#load(flock);
      this.#flocks.set(flock, state);
      // A failed load (I/O error) must be retried by the next commit, not remembered.
      state.catch(() => this.#flocks.delete(flock));
    }
    return state;
  }

  async #load(flock: number): Promise<FlockState> {
    const meta = await this.#store.readFlockMeta(flock);
    const term = Math.max(1, meta?.term ?? 1);
    const reserved = meta?.seqReserved ?? 0;
    return { term, next: reserved + 1, reserved, reserving: null };
  }

  /** `count` new versions for a flock, in order. */
  async next(flock: number, count: number): Promise<Version[]> {
    const state = await this.#state(flock);
    while (state.next + count - 1 > state.reserved) {
      state.reserving ??= this.#reserve(flock, state, count).finally(() => (state.reserving = null));
      await state.reserving;
    }
    const versions: Version[] = [];
    for (let i = 0; i < count; i++) versions.push({ term: state.term, seq: state.next++ });
    return versions;
  }

  /**
   * A version this node stored without handing it out (a replicated write):
   * if this node ever leads the flock, its versions must sort after it.
   */
  async observe(flock: number, version: Version): Promise<void> {
    const state = await this.#state(flock);
    if (version.term > state.term) state.term = version.term;
    if (version.seq < state.next) return;
    state.next = version.seq + 1;
    while (state.next - 1 > state.reserved) {
      state.reserving ??= this.#reserve(flock, state, 0).finally(() => (state.reserving = null));
      await state.reserving;
    }
  }

  async #reserve(flock: number, state: FlockState, count: number): Promise<void> {
    const reserved = Math.max(state.reserved, state.next + count - 1) + this.#reserveBlock;
    await this.#store.writeFlockMeta(flock, { term: state.term, seqReserved: reserved });
    state.reserved = reserved;
  }
}
