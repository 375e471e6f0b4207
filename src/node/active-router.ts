/**
 * Where work on a bucket happens: on its flock's active node, here if this
 * node is it, else forwarded there as one bleet. The node that forwards and
 * the node that serves may see the cluster differently for a moment (the
 * flock moved, a member is suspect): the forwarder retries once where it is
 * told or where its view moves on; the server merges the forwarder's member
 * table before it refuses. Only requests refused before anything of them was
 * stored run twice.
 */
import { GrexError } from '../errors.js';
import { flockOf } from '../keys.js';
import type { NodeCore, NodeState } from './node-core.js';

/** How long a request refused before anything was stored waits for this node's view to name another active node. */
const REROUTE_WAIT_MS = 2000;

/**
 * Whether a request's refusal left nothing stored, so it may run once more
 * elsewhere: the node was not its active node (it checks before running it),
 * or it refused with `stored: false` (it no longer led the flock, or could not
 * claim it, before the job's first write). A quorum miss, a replica's stale
 * refusal after the write, a timeout or a lost connection may have stored it.
 */
export function leftNothing(err: unknown): boolean {
  if (!(err instanceof GrexError)) return false;
  if (err.code === 'GREX_ERR_NOT_ACTIVE') return true;
  return (err.code === 'GREX_ERR_STALE_TERM' || err.code === 'GREX_ERR_FLOCK_UNAVAILABLE') && err.data?.stored === false;
}

export class ActiveRouter {
  readonly #core: NodeCore;
  /** Read only: `stopping` (GrexNode.stop sets it). */
  readonly #state: NodeState;

  constructor(core: NodeCore, state: NodeState) {
    this.#core = core;
    this.#state = state;
  }

  /**
   * Runs `here` if this node is the bucket's active node, else `there` on the
   * active node. A node that turns out not to be active (views differ for a
   * moment) names the one it knows; that one is tried once. A request refused
   * before anything of it was stored (see leftNothing: the node was not active
   * or no longer led the flock, say while a flock moves) is run once more on
   * the node this node's view names next, after waiting (up to
   * REROUTE_WAIT_MS) for that view to move on, so the client sees the answer
   * rather than a retryable error. Never a request that may have stored
   * something: at most once for acknowledged effects.
   */
  async onActiveNode<T>(bucketKey: string, what: string, here: () => Promise<T>, there: (nodeId: string) => Promise<T>): Promise<T> {
    const { cluster, nodeId } = this.#core;
    if (this.#state.stopping !== null) throw new GrexError('GREX_ERR_SHUTTING_DOWN', 'the node is stopping');
    if (!cluster.joined) throw new GrexError('GREX_ERR_NOT_READY', 'this node has not joined its cluster yet');
    const flock = flockOf(bucketKey, this.#core.flocks);
    const runOn = (id: string) => (id === nodeId ? here() : this.#forward(what, id, there));
    const first = this.#activeNodeOf(flock);
    try {
      return await runOn(first);
    } catch (err) {
      if (!leftNothing(err) || this.#state.stopping !== null) throw err;
      // Refused by another node: its view is ahead of this node's (the flock moved), so take its view.
      // Refused here: this node's view is the one that counts, go by it now.
      if (first !== nodeId) await cluster.catchUpWith(first);
      let next = this.#activeNodeOrNull(flock);
      const hint = (err as GrexError).code === 'GREX_ERR_NOT_ACTIVE' ? (err as GrexError).data?.activeNodeId : undefined;
      if (next === first && first !== nodeId) {
        if (typeof hint === 'string' && hint !== first && cluster.isLive(hint)) {
          // The views still differ (liveness is each node's own): the node asked names another.
          cluster.counters.notActiveRetries++;
          next = hint;
        } else {
          // Wait for this node's view to name another node; still the same one: it refused only
          // for a moment (a claim in progress, a step-down), so once more there.
          const deadline = Date.now() + REROUTE_WAIT_MS;
          while (this.#activeNodeOrNull(flock) === first && Date.now() < deadline && this.#state.stopping === null) {
            await cluster.viewChange(Math.min(this.#core.config.heartbeatMs, deadline - Date.now()));
          }
          next = this.#activeNodeOrNull(flock);
        }
      }
      if (next === null || this.#state.stopping !== null) throw err;
      cluster.counters.rerouted++;
      return runOn(next);
    }
  }

  /** The bucket's active node in this node's view (a learner passes it to the next live herder); null: none live. */
  #activeNodeOrNull(flock: number): string | null {
    const { cluster, nodeId } = this.#core;
    const route = cluster.route(flock);
    // Still copying the flock (a learner whose announcement has not spread): the next live herder serves it.
    if (route.active === nodeId && !this.#core.leadership.mayPromise(flock)) {
      return route.herders.find((id) => id !== nodeId && cluster.isLive(id)) ?? null;
    }
    return route.active;
  }

  #activeNodeOf(flock: number): string {
    const active = this.#activeNodeOrNull(flock);
    if (active === null) throw this.#unassigned(flock, this.#core.cluster.route(flock).herders);
    return active;
  }

  async #forward<T>(what: string, nodeId: string, there: (nodeId: string) => Promise<T>): Promise<T> {
    try {
      const answer = await there(nodeId);
      this.#core.metrics.forwarded(what);
      return answer;
    } catch (err) {
      this.#core.metrics.forwarded(what, err);
      throw err;
    }
  }

  #unassigned(flock: number, herders: readonly string[]): GrexError {
    return new GrexError(
      'GREX_ERR_FLOCK_UNASSIGNED',
      herders.length === 0 ? `no node herds flock ${flock}` : `no herder of flock ${flock} is live (${herders.join(', ')})`,
      { flock, herders: [...herders], retryAfterSeconds: 1 },
    );
  }

  /**
   * Throws GREX_ERR_NOT_ACTIVE unless this node is the active node of the
   * bucket's flock. The node that forwarded the request may have heard of a
   * change this node has not (it routes by its view): before refusing, this
   * node merges that node's member table and looks again.
   */
  async assertActive(bucketKey: string, from: string): Promise<void> {
    const { cluster, nodeId } = this.#core;
    const flock = flockOf(bucketKey, this.#core.flocks);
    if (this.#activeNodeOrNull(flock) === nodeId) return;
    await cluster.catchUpWith(from);
    const activeId = this.#activeNodeOrNull(flock);
    if (activeId === nodeId) return;
    const active = activeId === null ? undefined : cluster.member(activeId);
    throw new GrexError('GREX_ERR_NOT_ACTIVE', `node ${nodeId} is not the active node of flock ${flock}`, {
      flock,
      activeNodeId: activeId,
      activeNode: active?.httpUrl ?? null,
      mapVersion: cluster.mapVersion,
      retryAfterSeconds: 1,
    });
  }
}
