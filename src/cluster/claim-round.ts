/**
 * One claim of a flock by a candidate: it asks the flock's herders to promise
 * it a new term, and wins once a majority of them (itself included) did.
 * Pure: promises and refusals in, a decision and a merge plan out.
 *
 * Safety rests on two rules kept by the herders (flock-terms in the node):
 * a herder promises a term only if it is higher than every term it promised
 * before (so two candidates cannot both win one term), and it refuses writes
 * of a term lower than its promise (so a deposed active node cannot reach a
 * write quorum: its quorum and the new term's majority share a herder).
 */
import { planMerge, type ListingEntry, type MergePlan } from './flock-listing.js';
import { quorumSize, type WriteQuorum } from './quorum.js';

export type ClaimState = 'won' | 'lost' | 'open';

export class ClaimRound {
  readonly flock: number;
  readonly term: number;
  readonly herders: readonly string[];
  readonly selfId: string;
  /** Promises needed to win. */
  readonly needed: number;
  readonly #promises = new Map<string, ListingEntry[]>();
  readonly #refusals = new Set<string>();
  #highestRefusedTerm = 0;

  /** Herders a write needs (the write quorum's size for this flock). */
  readonly writeQuorumSize: number;

  constructor(options: { flock: number; term: number; herders: readonly string[]; selfId: string; writeQuorum?: WriteQuorum }) {
    this.flock = options.flock;
    this.term = options.term;
    this.herders = options.herders;
    this.selfId = options.selfId;
    this.writeQuorumSize = quorumSize(options.herders.length, options.writeQuorum ?? 'majority');
    // Every write quorum must share a herder with the promisers: with writes acknowledged by
    // w of n herders, a claim needs n - w + 1 promises, and never fewer than a majority.
    this.needed = Math.max(quorumSize(options.herders.length, 'majority'), options.herders.length - this.writeQuorumSize + 1);
  }

  /** A herder promised the term and sent what it holds of the flock. */
  promise(nodeId: string, listing: ListingEntry[]): void {
    if (!this.herders.includes(nodeId) || this.#refusals.has(nodeId)) return;
    this.#promises.set(nodeId, listing);
  }

  /** A herder refused (it promised `promisedTerm` already) or could not be asked. */
  refuse(nodeId: string, promisedTerm = 0): void {
    if (!this.herders.includes(nodeId) || this.#promises.has(nodeId)) return;
    this.#refusals.add(nodeId);
    this.#highestRefusedTerm = Math.max(this.#highestRefusedTerm, promisedTerm);
  }

  get state(): ClaimState {
    if (this.#promises.size >= this.needed) return 'won';
    if (this.herders.length - this.#refusals.size < this.needed) return 'lost';
    return 'open';
  }

  /** Who promised. */
  get promisers(): string[] {
    return [...this.#promises.keys()];
  }

  /** The highest term a refusing herder had promised: a retry must go above it. */
  get highestRefusedTerm(): number {
    return this.#highestRefusedTerm;
  }

  /**
   * The merge of the promisers' holdings; only meaningful once won. When every
   * herder promised, versions only the candidate holds are dropped (they were
   * never acknowledged if a write needs two or more herders).
   */
  plan(): MergePlan {
    const everyone = this.herders.every((id) => this.#promises.has(id));
    return planMerge(this.selfId, this.#promises, everyone && this.writeQuorumSize >= 2);
  }
}
