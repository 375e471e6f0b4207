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

/** Promises a claim needs among `n` herders: a majority, and enough to meet every write quorum (n - w + 1). */
export function claimNeeds(n: number, writeQuorum: WriteQuorum): number {
  if (n <= 0) return 1;
  return Math.max(quorumSize(n, 'majority'), n - quorumSize(n, writeQuorum) + 1);
}

/**
 * Who counts is told by the answers, not by gossip: each asked node says
 * whether it herds the flock (durably, in its flock metadata). A node that
 * says it does not (a learner, or one that dropped the flock) is left out of
 * the count altogether; a node that does not answer counts as a herder that
 * refused. So a view of the farm that lags behind cannot make a claim count
 * an empty copy, or need fewer promises than the herders that exist.
 */
export class ClaimRound {
  readonly flock: number;
  readonly term: number;
  /** The nodes asked: every node that may herd the flock (target herders and announced holders). */
  readonly herders: readonly string[];
  readonly selfId: string;
  readonly #writeQuorum: WriteQuorum;
  readonly #promises = new Map<string, ListingEntry[]>();
  /** Each promiser's basis: the term whose active node's state its copy was made from. */
  readonly #bases = new Map<string, number>();
  readonly #refusals = new Set<string>();
  /** Asked nodes that said they do not herd the flock. */
  readonly #outsiders = new Set<string>();
  #highestRefusedTerm = 0;

  constructor(options: { flock: number; term: number; herders: readonly string[]; selfId: string; writeQuorum?: WriteQuorum }) {
    this.flock = options.flock;
    this.term = options.term;
    this.herders = options.herders;
    this.selfId = options.selfId;
    this.#writeQuorum = options.writeQuorum ?? 'majority';
  }

  /** Herders as far as the answers tell: the asked nodes, less those that said they do not herd. */
  get counted(): number {
    return this.herders.length - this.#outsiders.size;
  }

  /** Promises needed to win (shrinks as nodes say they do not herd). */
  get needed(): number {
    return claimNeeds(this.counted, this.#writeQuorum);
  }

  /** Herders a write needs (the write quorum's size for this flock). */
  get writeQuorumSize(): number {
    return quorumSize(this.counted, this.#writeQuorum);
  }

  /**
   * A node promised the term; `herding` false: it does not herd the flock
   * (its promise and its holdings count for nothing). `basis`: the term whose
   * active node's state its copy was made from (0: unknown); see planMerge.
   */
  promise(nodeId: string, listing: ListingEntry[], herding = true, basis = 0): void {
    if (!this.herders.includes(nodeId) || this.#refusals.has(nodeId) || this.#outsiders.has(nodeId)) return;
    if (!herding) {
      this.#outsiders.add(nodeId);
      return;
    }
    this.#promises.set(nodeId, listing);
    this.#bases.set(nodeId, basis);
  }

  /** A herder refused (it promised `promisedTerm` already) or could not be asked. */
  refuse(nodeId: string, promisedTerm = 0): void {
    if (!this.herders.includes(nodeId) || this.#promises.has(nodeId) || this.#outsiders.has(nodeId)) return;
    this.#refusals.add(nodeId);
    this.#highestRefusedTerm = Math.max(this.#highestRefusedTerm, promisedTerm);
  }

  /** An asked node said it does not herd the flock (it is left out of the count). */
  outsider(nodeId: string): void {
    if (!this.herders.includes(nodeId) || this.#promises.has(nodeId)) return;
    this.#refusals.delete(nodeId);
    this.#outsiders.add(nodeId);
  }

  get state(): ClaimState {
    const promised = this.#promises.size;
    if (promised > 0 && promised >= this.needed) return 'won';
    // Lost when no way the unanswered nodes could answer (promise, or say they do not herd) wins.
    const open = this.herders.length - promised - this.#refusals.size - this.#outsiders.size;
    for (let k = 0; k <= open; k++) {
      const p = promised + k;
      if (p > 0 && p >= claimNeeds(this.counted - (open - k), this.#writeQuorum)) return 'open';
    }
    return 'lost';
  }

  /** Who promised (and herds). */
  get promisers(): string[] {
    return [...this.#promises.keys()];
  }

  /** Each promiser's basis (for the claim's debug log). */
  get bases(): Record<string, number> {
    return Object.fromEntries(this.#bases);
  }

  /** Asked nodes that said they do not herd the flock. */
  get outsiders(): string[] {
    return [...this.#outsiders];
  }

  /** The highest term a refusing herder had promised: a retry must go above it. */
  get highestRefusedTerm(): number {
    return this.#highestRefusedTerm;
  }

  /**
   * The merge of the promisers' holdings; only meaningful once won. When every
   * herder promised, versions only the candidate holds are dropped (they were
   * never acknowledged if a write needs two or more herders); so are versions
   * older than the promisers' highest basis that no copy of that basis holds.
   */
  plan(): MergePlan {
    const everyone = this.herders.every((id) => this.#promises.has(id) || this.#outsiders.has(id));
    return planMerge(this.selfId, this.#promises, everyone && this.writeQuorumSize >= 2, this.#bases);
  }
}
