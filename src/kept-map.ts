/**
 * A Map of entries that go busy and idle again and again (a flock's gate, a
 * bucket's queue): idle entries stay for reuse, up to a bound, and past it
 * every idle entry goes at once.
 *
 * Why not delete each entry as it goes idle: on a busy node that is every
 * job or commit, and V8 shrinks a Map's table when few entries are left and
 * grows it again at the next one; once the Map is old, each new table is
 * allocated in the old generation — garbage that brings the main thread's
 * next full collection closer.
 */
export class KeptMap<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #isIdle: (value: V) => boolean;
  readonly #make: () => V;
  readonly #kept: number;
  /** Idle entries held: each went idle (`wentIdle`) and was not used since. */
  #idle = 0;

  constructor(options: { isIdle: (value: V) => boolean; make: () => V; kept?: number }) {
    this.#isIdle = options.isIdle;
    this.#make = options.make;
    this.#kept = options.kept ?? 1024;
  }

  /** Entries held, busy and idle. */
  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    return this.#entries.get(key);
  }

  /** The entry of `key`, made if absent, for a caller about to make it busy. */
  use(key: K): V {
    let value = this.#entries.get(key);
    if (value === undefined) this.#entries.set(key, (value = this.#make()));
    else if (this.#isIdle(value)) this.#idle--;
    return value;
  }

  /** An entry went idle: it is kept, unless that makes one too many; then every idle entry goes. */
  wentIdle(): void {
    if (++this.#idle <= this.#kept) return;
    for (const [key, value] of this.#entries) if (this.#isIdle(value)) this.#entries.delete(key);
    this.#idle = 0;
  }
}
