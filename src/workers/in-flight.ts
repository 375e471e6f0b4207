/**
 * The jobs sent down a line and not answered yet, each under a small number
 * (its index here) that is reused once it is answered.
 *
 * Why not a Map keyed by an ever-growing job id: a long-lived Map whose
 * entries come and go reallocates its hash table every few deletes (V8
 * shrinks and rehashes it), and a table that is old is reallocated in the
 * old generation — garbage that brings the main thread's next full
 * collection closer, every turn. These arrays keep their storage.
 */
export class InFlight<T> {
  readonly #items: (T | undefined)[] = [];
  /** Indexes free for reuse. */
  readonly #free: number[] = [];
  #count = 0;

  /** Items held. */
  get size(): number {
    return this.#count;
  }

  /** Holds an item; returns its index. */
  add(item: T): number {
    const index = this.#free.pop() ?? this.#items.length;
    this.#items[index] = item;
    this.#count++;
    return index;
  }

  /** Whether `item` is still held at `index` (an index is reused once taken). */
  holds(index: number, item: T): boolean {
    return this.#items[index] === item;
  }

  /** Removes and returns the item at `index`, if one is held there. */
  take(index: number): T | undefined {
    const item = this.#items[index];
    if (item === undefined) return undefined;
    this.#items[index] = undefined;
    this.#free.push(index);
    this.#count--;
    return item;
  }

  /** Removes and returns every item held. */
  takeAll(): T[] {
    const all = this.#items.filter((item): item is T => item !== undefined);
    this.#items.length = 0;
    this.#free.length = 0;
    this.#count = 0;
    return all;
  }
}
