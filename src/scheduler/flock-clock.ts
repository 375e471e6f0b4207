/**
 * The durable per-flock counters of a node: the highest leadership term it
 * promised (flock terms) and the sequence numbers of item versions.
 *
 * Terms: a node promises a term to a candidate only if it is higher than
 * every term it promised before, and accepts writes (replicated or its own as
 * active node) only of a term at least its promise. The promise is written to
 * the flock's metadata before it is given, so it survives a restart.
 *
 * Sequence numbers grow by one per committed item in a flock. So that a
 * restart never reuses one, the clock reserves blocks: before handing out seq
 * N it has durably recorded a reservation >= N, and after a restart it
 * continues above it. One small metadata write per `reserveBlock` versions.
 */
import type { ItemStore } from '../store/item-store.js';
import type { Version } from '../store/version.js';

interface FlockState {
  /** Highest term promised (or used), durable. */
  term: number;
  /** Next seq to hand out. */
  next: number;
  /** Highest seq durably reserved. */
  reserved: number;
  /** This node herds the flock, durable (see cluster/herding.ts). */
  herding: boolean;
  /** The term whose active node's state this copy was made from, durable (see cluster/claim-round.ts). */
  basis: number;
  /** Metadata writes of this flock, one after the other. */
  writing: Promise<void>;
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
      // A failed load (I/O error) must be retried next time, not remembered.
      state.catch(() => this.#flocks.delete(flock));
    }
    return state;
  }

  async #load(flock: number): Promise<FlockState> {
    const meta = await this.#store.readFlockMeta(flock);
    const reserved = meta?.seqReserved ?? 0;
    return { term: meta?.term ?? 0, next: reserved + 1, reserved, herding: meta?.herding === true, basis: meta?.basis ?? 0, writing: Promise.resolve() };
  }

  /**
   * After any metadata write in progress: asks `update` for the new metadata
   * (null: nothing to write), writes it, and only then applies it to `state`.
   * One write at a time per flock, so each decision sees the state the
   * previous write left.
   */
  #persist(
    flock: number,
    state: FlockState,
    update: () => { term: number; seqReserved: number; herding?: boolean; basis?: number } | null,
  ): Promise<boolean> {
    const write = state.writing.then(async () => {
      const change = update();
      if (change === null) return false;
      const herding = change.herding ?? state.herding;
      // A copy that is dropped is the basis of nothing.
      const meta = { term: change.term, seqReserved: change.seqReserved, herding, basis: herding ? (change.basis ?? state.basis) : 0 };
      await this.#store.writeFlockMeta(flock, meta);
      state.term = Math.max(state.term, meta.term);
      state.reserved = Math.max(state.reserved, meta.seqReserved);
      state.herding = meta.herding;
      state.basis = meta.basis;
      return true;
    });
    state.writing = write.then(
      () => {},
      () => {},
    );
    return write;
  }

  /** The highest term this node promised for the flock (0: none). */
  async promised(flock: number): Promise<number> {
    return (await this.#state(flock)).term;
  }

  /**
   * Promises `term` to a candidate: durably, and only if it is higher than
   * every term promised before. Resolves with the promise held afterwards and
   * whether this call made it.
   */
  async promise(flock: number, term: number, options: { herd?: boolean } = {}): Promise<{ promised: boolean; term: number }> {
    const state = await this.#state(flock);
    const promised = await this.#persist(flock, state, () =>
      term > state.term ? { term, seqReserved: state.reserved, ...(options.herd === true ? { herding: true } : {}) } : null,
    );
    return { promised, term: state.term };
  }

  /** Whether this node herds the flock (durable). */
  async herding(flock: number): Promise<boolean> {
    return (await this.#state(flock)).herding;
  }

  /**
   * Records durably that this node herds the flock, or no longer does; with
   * `basis` (when it starts herding), also its basis (see setBasis), in the
   * same metadata write.
   */
  async setHerding(flock: number, herding: boolean, options: { basis?: number } = {}): Promise<void> {
    const state = await this.#state(flock);
    await this.#persist(flock, state, () => {
      const basis = herding && options.basis !== undefined && options.basis > state.basis ? { basis: options.basis } : {};
      if (state.herding === herding && basis.basis === undefined) return null;
      return { term: state.term, seqReserved: state.reserved, herding, ...basis };
    });
  }

  /** The term whose active node's state this node's copy was made from (0: unknown). */
  async basis(flock: number): Promise<number> {
    return (await this.#state(flock)).basis;
  }

  /**
   * Records durably that this node's copy of the flock is the state of term
   * `term`'s active node: it won that term's claim and merged, or that active
   * node made it identical and promoted it. Never lowered.
   */
  async setBasis(flock: number, term: number): Promise<void> {
    const state = await this.#state(flock);
    await this.#persist(flock, state, () => (term <= state.basis || !state.herding ? null : { term: state.term, seqReserved: state.reserved, basis: term }));
  }

  /**
   * A write of `term` arrived (replicated, or a sync from the active node):
   * false if a higher term was promised; else true, after durably raising the
   * promise to `term` if it was lower.
   */
  async accept(flock: number, term: number): Promise<boolean> {
    const state = await this.#state(flock);
    if (term < state.term) return false;
    if (term > state.term) await this.#persist(flock, state, () => (term > state.term ? { term, seqReserved: state.reserved } : null));
    return term >= state.term;
  }

  /** `count` new versions for a flock at `term`, in order. */
  async next(flock: number, count: number, term = 1): Promise<Version[]> {
    const state = await this.#state(flock);
    while (state.next + count - 1 > state.reserved) await this.#reserve(flock, state, count);
    const versions: Version[] = [];
    for (let i = 0; i < count; i++) versions.push({ term, seq: state.next++ });
    return versions;
  }

  /**
   * A version this node stored without handing it out (replicated, merged or
   * repaired): if it ever leads the flock, its versions must sort after it.
   */
  async observe(flock: number, version: Version): Promise<void> {
    const state = await this.#state(flock);
    if (version.seq < state.next) return;
    state.next = version.seq + 1;
    while (state.next - 1 > state.reserved) await this.#reserve(flock, state, 0);
  }

  async #reserve(flock: number, state: FlockState, count: number): Promise<void> {
    await this.#persist(flock, state, () =>
      // Another reservation may have covered it meanwhile.
      state.next + count - 1 <= state.reserved ? null : { term: state.term, seqReserved: Math.max(state.reserved, state.next + count - 1) + this.#reserveBlock },
    );
  }
}
