/**
 * A bucket's work done on this node: running a job (as its flock's active
 * node), reading an item (repairing a damaged copy when this node leads the
 * flock) and listing a bucket. GrexNode runs it for its own requests when it
 * is the active node, the bleet server for requests forwarded here, and the
 * job threads read through it. Whether this node should do the work is
 * decided by the caller (ActiveRouter, or `local` reads of a herder).
 */
import type { GrexError } from '../errors.js';
import type { ItemListing } from '../http/node-api.js';
import { flockOf } from '../keys.js';
import type { JobRequest } from '../scheduler/index.js';
import { formatVersion, type ItemRecord } from '../store/index.js';
import type { NodeCore, NodeState } from './node-core.js';

export class BucketWork {
  readonly #core: NodeCore;
  /** Read only: `url` (the answer names this node). */
  readonly #state: NodeState;

  constructor(core: NodeCore, state: NodeState) {
    this.#core = core;
    this.#state = state;
  }

  async runJobHere(request: JobRequest): Promise<{ result: string | Uint8Array; activeNode: string }> {
    this.#core.cluster.counters.jobsLocal++;
    const started = performance.now();
    try {
      await this.#core.leadership.ensureLeading(flockOf(request.bucketKey, this.#core.flocks));
      const outcome = await this.#core.scheduler.submit(request);
      this.#core.metrics.jobDone(request.jobName, (performance.now() - started) / 1000);
      return { result: outcome.result, activeNode: this.#state.url };
    } catch (err) {
      this.#core.metrics.jobDone(request.jobName, (performance.now() - started) / 1000, err);
      throw err;
    }
  }

  /** This node's copy of an item; a damaged copy is repaired from the herders when this node leads the flock. */
  async readHere(bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    const flock = flockOf(bucketKey, this.#core.flocks);
    try {
      return await this.#core.store.readLive(flock, bucketKey, itemKey);
    } catch (err) {
      if ((err as GrexError).code !== 'GREX_ERR_STORE_CORRUPT' || this.#core.leadership.termIfLeading(flock) === null) throw err;
      return this.#core.leadership.repair(flock, bucketKey, itemKey);
    }
  }

  async listHere(bucketKey: string): Promise<ItemListing[]> {
    const headers = await this.#core.store.listLive(flockOf(bucketKey, this.#core.flocks), bucketKey);
    return headers.map((h) => ({ itemKey: h.itemKey, version: formatVersion(h.version), size: h.size, encoding: h.encoding }));
  }
}
