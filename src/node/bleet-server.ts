/**
 * Serves the bleets other nodes send this one (all but `members`, which the
 * cluster node answers itself): forwarded jobs, reads and writes, which run
 * here only if this node is the bucket's active node; the flock leadership's
 * replication, claims, syncs, hand-overs and digests; a farm plan's part for
 * this node; the counters of the cluster overview. Every flock, key and
 * record a bleet names is checked before it is used.
 */
import type { BleetMethod, BleetRequest, BleetResponse, MemberInfo } from '../cluster/index.js';
import { GrexError } from '../errors.js';
import { assertBucketKey, assertItemKey, flockOf } from '../keys.js';
import { decodeListAppend } from '../store/item-delta.js';
import { decodeRecordBytes, encodeItemRecord, type RecordBytes } from '../store/item-record.js';
import { formatVersion, parseVersion, type ItemRecord } from '../store/index.js';
import type { ActiveRouter } from './active-router.js';
import type { BucketWork } from './bucket-work.js';
import type { NodeCore } from './node-core.js';
import { nodeStats } from './node-status.js';

export interface BleetServerOptions {
  router: ActiveRouter;
  work: BucketWork;
  /** This node's part of a farm plan ('' none, null back to auto); answers what it applied. */
  applyFarm: (farm: string | null) => string | null;
}

export class BleetServer {
  readonly #core: NodeCore;
  readonly #router: ActiveRouter;
  readonly #work: BucketWork;
  readonly #applyFarm: (farm: string | null) => string | null;

  constructor(core: NodeCore, options: BleetServerOptions) {
    this.#core = core;
    this.#router = options.router;
    this.#work = options.work;
    this.#applyFarm = options.applyFarm;
  }

  async serve<M extends Exclude<BleetMethod, 'members'>>(method: M, body: BleetRequest<M>, from: MemberInfo): Promise<BleetResponse<M>> {
    const { cluster, leadership, scheduler, flocks } = this.#core;
    switch (method) {
      case 'job': {
        const request = body as BleetRequest<'job'>;
        assertBucketKey(request.bucketKey);
        await this.#router.assertActive(request.bucketKey, from.nodeId);
        cluster.counters.jobsReceived++;
        const answer = await this.#work.runJobHere({ ...request, data: request.data ?? undefined });
        return answer as BleetResponse<M>;
      }
      case 'replicate': {
        const { flock, term, records } = body as BleetRequest<'replicate'>;
        this.#assertStores(flock);
        return (await leadership.onReplicate(flock, term, decodeRecords(flock, records, flocks))) as BleetResponse<M>;
      }
      case 'claim': {
        const { flock, term, adopt } = body as BleetRequest<'claim'>;
        this.#assertFlock(flock);
        return (await leadership.onClaim(flock, term, from.nodeId, adopt)) as BleetResponse<M>;
      }
      case 'fetch': {
        const { flock, keys } = body as BleetRequest<'fetch'>;
        this.#assertFlock(flock);
        for (const [bucketKey, itemKey] of keys) {
          assertBucketKey(bucketKey);
          assertItemKey(itemKey);
        }
        return { records: await leadership.onFetch(flock, keys) } as BleetResponse<M>;
      }
      case 'sync': {
        const { flock, term, from: start, to, entries, verify, page, pages } = body as BleetRequest<'sync'>;
        this.#assertStores(flock);
        return (await leadership.onSync(flock, term, start, to, entries, from.nodeId, verify, { page, pages })) as BleetResponse<M>;
      }
      case 'herd': {
        const { flock, term } = body as BleetRequest<'herd'>;
        this.#assertFlock(flock);
        return { herding: await leadership.onHerd(flock, term) } as BleetResponse<M>;
      }
      case 'plan': {
        const { farm } = body as BleetRequest<'plan'>;
        return { farm: this.#applyFarm(farm) } as BleetResponse<M>;
      }
      case 'warm': {
        const { flock, buckets } = body as BleetRequest<'warm'>;
        this.#assertFlock(flock);
        return { loaded: await leadership.onWarm(flock, buckets) } as BleetResponse<M>;
      }
      case 'digest': {
        const { flock } = body as BleetRequest<'digest'>;
        this.#assertFlock(flock);
        return (await leadership.onDigest(flock)) as BleetResponse<M>;
      }
      case 'purge': {
        const { flock, term, entries } = body as BleetRequest<'purge'>;
        this.#assertStores(flock);
        return { purged: await leadership.onPurge(flock, term, entries) } as BleetResponse<M>;
      }
      case 'item.get': {
        const { bucketKey, itemKey } = body as BleetRequest<'item.get'>;
        await this.#router.assertActive(bucketKey, from.nodeId);
        await leadership.ensureLeading(flockOf(bucketKey, flocks));
        const record = await this.#work.readHere(bucketKey, itemKey);
        return { record: record === undefined ? null : encodeItemRecord(record) } as BleetResponse<M>;
      }
      case 'item.list': {
        const { bucketKey } = body as BleetRequest<'item.list'>;
        await this.#router.assertActive(bucketKey, from.nodeId);
        await leadership.ensureLeading(flockOf(bucketKey, flocks));
        return { items: await this.#work.listHere(bucketKey) } as BleetResponse<M>;
      }
      case 'item.write': {
        const request = body as BleetRequest<'item.write'>;
        await this.#router.assertActive(request.bucketKey, from.nodeId);
        await leadership.ensureLeading(flockOf(request.bucketKey, flocks));
        const ifMatch = request.ifMatch === null ? undefined : parseVersion(request.ifMatch) ?? undefined;
        const version = await scheduler.writeItem({
          bucketKey: request.bucketKey,
          itemKey: request.itemKey,
          bytes: request.bytes,
          encoding: request.encoding,
          ifMatch,
        });
        return { version: formatVersion(version) } as BleetResponse<M>;
      }
      case 'stats':
        return (await nodeStats(this.#core)) as BleetResponse<M>;
    }
    throw new GrexError('GREX_ERR_BLEET_INVALID', `unexpected bleet ${String(method)}`);
  }

  #assertFlock(flock: number): void {
    if (flock >= this.#core.flocks) throw new GrexError('GREX_ERR_BLEET_INVALID', `there is no flock ${flock}`);
  }

  /** Replicated writes, syncs and purges: only for a node that herds the flock or is learning it. */
  #assertStores(flock: number): void {
    this.#assertFlock(flock);
    if (!this.#core.leadership.mayStore(flock)) {
      throw new GrexError('GREX_ERR_NOT_HERDER', `node ${this.#core.nodeId} does not herd flock ${flock}`, { flock });
    }
  }
}

/** Records that came in a bleet: valid keys, and all of the flock they claim to be in (of `flocks`). */
export function decodeRecords(flock: number, encoded: readonly RecordBytes[], flocks: number): ItemRecord[] {
  return encoded.map((bytes) => {
    const record = decodeRecordBytes(bytes, `replicated write of flock ${flock}`);
    assertBucketKey(record.bucketKey);
    assertItemKey(record.itemKey);
    if (flockOf(record.bucketKey, flocks) !== flock) throw new GrexError('GREX_ERR_BLEET_INVALID', `bucket ${record.bucketKey} is not in flock ${flock}`);
    if (record.delta === true) {
      if (record.tombstone || record.purge === true) throw new GrexError('GREX_ERR_BLEET_INVALID', `a delta of ${record.bucketKey}/${record.itemKey} is also a tombstone or purge`);
      try {
        decodeListAppend(record.payload);
      } catch (err) {
        throw new GrexError('GREX_ERR_BLEET_INVALID', `replicated write of flock ${flock}: ${(err as Error).message}`);
      }
    }
    return record;
  });
}
