/**
 * Bucket affinity for the piscina pool: every job of a bucket runs on the
 * same thread, so that thread's cache holds the bucket's decoded objects.
 *
 * Threads sit in fixed slots. A bucket maps to a slot by hash; a thread that
 * dies (a job timed out) frees its slot and its replacement takes it, so the
 * other slots' buckets keep their threads and their warm caches. Until a
 * slot has a thread the balancer answers null and piscina keeps the task
 * queued. The slot of a task travels in `task[Piscina.queueOptionsSymbol]`,
 * since piscina hands the balancer a task without its payload.
 */

export interface SlotTaskOptions {
  /** The slot (thread) the task must run on. */
  slot: number;
}

/** A bucket's slot among `threads` slots, from the bucket's FNV-1a hash. */
export function slotOf(bucketHash: number, threads: number): number {
  // Remix the hash: its low bits also pick the flock, and slots should not follow flocks.
  return (Math.imul(bucketHash ^ (bucketHash >>> 16), 0x45d9f3b) >>> 0) % threads;
}

/** What the balancer needs of a piscina worker (piscina does not export its type). */
export interface WorkerLike {
  readonly id: number;
  readonly destroyed: boolean;
  readonly terminating: boolean;
}

/** The slot table: pure bookkeeping of which thread sits in which slot. */
export class ThreadSlots<W extends WorkerLike = WorkerLike> {
  readonly #slots: (W | null)[];
  /** Ids of the threads in the slots. */
  #seated = new Set<number>();

  constructor(threads: number) {
    this.#slots = new Array<W | null>(threads).fill(null);
  }

  /** Refreshes the table from the pool's current workers and returns the thread of a slot. */
  pick(slot: number, workers: readonly W[]): W | null {
    this.#refresh(workers);
    return this.#slots[slot] ?? null;
  }

  /** Slot index -> thread id, for diagnostics and tests. */
  ids(): (number | null)[] {
    return this.#slots.map((w) => w?.id ?? null);
  }

  #refresh(workers: readonly W[]): void {
    // The common case, once per task: every thread working and seated, none waiting for a slot.
    if (workers.length === this.#slots.length && workers.every((w) => !w.destroyed && !w.terminating && this.#seated.has(w.id))) return;
    const live = new Map<number, W>();
    for (const w of workers) if (!w.destroyed && !w.terminating) live.set(w.id, w);
    const seated = new Set<number>();
    for (let i = 0; i < this.#slots.length; i++) {
      const current = this.#slots[i];
      if (current != null && live.has(current.id)) {
        this.#slots[i] = live.get(current.id)!;
        seated.add(current.id);
      } else {
        this.#slots[i] = null;
      }
    }
    // New threads take the free slots, oldest thread first (piscina lists them in creation order).
    for (const w of live.values()) {
      if (seated.has(w.id)) continue;
      const free = this.#slots.indexOf(null);
      if (free < 0) break;
      this.#slots[free] = w;
      seated.add(w.id);
    }
    this.#seated = seated;
  }
}

/** A piscina `loadBalancer` that runs each task on the thread of its slot. */
export function createSlotBalancer(
  threads: number,
  queueOptionsSymbol: symbol,
): { balancer: (task: object, workers: WorkerLike[]) => WorkerLike | null; slots: ThreadSlots } {
  const slots = new ThreadSlots(threads);
  const balancer = (task: object, workers: WorkerLike[]): WorkerLike | null => {
    const options = (task as Record<symbol, SlotTaskOptions | undefined>)[queueOptionsSymbol];
    return slots.pick(options?.slot ?? 0, workers);
  };
  return { balancer, slots };
}
