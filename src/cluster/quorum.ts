/**
 * Write quorums. Pure counting: how many herders must hold a change before
 * it is acknowledged, and whether that can still happen.
 *
 * `majority` (default): more than half of the flock's herders; `all`; or a
 * number (at most the number of herders). The active node's own durable
 * write counts as one.
 */

export type WriteQuorum = 'majority' | 'all' | number;

export function quorumSize(herders: number, quorum: WriteQuorum): number {
  if (herders <= 0) return 1;
  if (quorum === 'majority') return Math.floor(herders / 2) + 1;
  if (quorum === 'all') return herders;
  return Math.max(1, Math.min(Math.floor(quorum), herders));
}

/** Counts acknowledgements of one write and says when it is decided. */
export class QuorumCount {
  readonly needed: number;
  readonly total: number;
  #acks = 0;
  #failures = 0;

  constructor(herders: number, quorum: WriteQuorum) {
    this.total = Math.max(1, herders);
    this.needed = quorumSize(herders, quorum);
  }

  ack(): void {
    this.#acks++;
  }

  fail(): void {
    this.#failures++;
  }

  get acks(): number {
    return this.#acks;
  }

  /** 'reached' once enough acks arrived, 'lost' once too many failed for that, else 'open'. */
  get state(): 'reached' | 'lost' | 'open' {
    if (this.#acks >= this.needed) return 'reached';
    if (this.total - this.#failures < this.needed) return 'lost';
    return 'open';
  }
}

/** Parses the writeQuorum option: "majority", "all" or a positive integer. */
export function parseWriteQuorum(value: unknown): WriteQuorum | null {
  if (value === 'majority' || value === 'all') return value;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(n) && n >= 1 ? n : null;
}
