/**
 * A Grex node: the store, the job threads, the scheduler, its place in the
 * cluster, and (unless turned off) the HTTP listener, started together and
 * stopped in order.
 *
 *   const node = await startNode({ jobs: './jobs', data: './grex-data' });
 *   const { result, activeNode } = await node.submit('johndoe', 'counter', { by: 2 });
 *   await node.stop();
 *
 * Every node accepts every request. Work on a bucket happens on its flock's
 * active node: here if this node is it, else forwarded there as one bleet.
 * A commit on the active node is replicated to the flock's other herders and
 * acknowledged at the write quorum.
 */
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  ClusterNode,
  FlockGates,
  FlockLeadership,
  loadMembers,
  memberSaver,
  parseFarm,
  WsTransport,
  type BleetMethod,
  type BleetRequest,
  type BleetResponse,
  type MemberInfo,
  type Transport,
} from './cluster/index.js';
import { itemCodec } from './codec.js';
import { loadConfig, resolveConfig } from './config/load-config.js';
import type { GrexConfig, GrexConfigInput } from './config/options.js';
import { GrexError } from './errors.js';
import { createHttpServer } from './http/server.js';
import type { ItemListing, NodeApi, RouteInfo } from './http/node-api.js';
import { assertBucketKey, assertItemKey, assertJobName, flockOf } from './keys.js';
import { createLogger, type Logger } from './log.js';
import { generateNodeId, loadNodeId } from './node-identity.js';
import { encodeJobValue, FlockClock, Scheduler, type ItemWrite, type JobRequest } from './scheduler/index.js';
import { decodeListAppend } from './store/item-delta.js';
import { decodeItemRecord, encodeItemRecord } from './store/item-record.js';
import {
  formatVersion,
  FsBackend,
  ItemStore,
  MemoryBackend,
  parseVersion,
  type ItemRecord,
  type Version,
} from './store/index.js';
import { discoverJobs, JobPool, type CacheStats } from './workers/index.js';

export interface SubmitResult<R = unknown> {
  result: R;
  /** URL of the node that ran the job: send this bucket's next jobs there. */
  activeNode: string;
}

export interface StartNodeOptions extends GrexConfigInput {
  /** A pino logger to use instead of creating one. */
  logger?: Logger;
  /** Also read GREX_* environment variables and GREX_CONFIG (as `grex start` does). Default false. */
  fromEnv?: boolean;
  /** Carries bleets instead of WebSockets (tests run many nodes in one process over a MemoryNetwork). */
  transport?: Transport;
  /** Bleet URLs of seed peers for that transport (with WebSockets, use the `peers` option). */
  seedUrls?: string[];
}

const MIB = 1024 * 1024;

interface Parts {
  nodeId: string;
  config: GrexConfig;
  logger: Logger;
  store: ItemStore;
  pool: JobPool;
  clock: FlockClock;
  jobs: Record<string, string>;
  transport: Transport | null;
  seedUrls: string[];
  knownMembers: MemberInfo[];
  saveMembers: ((members: MemberInfo[]) => void) | undefined;
}

export class GrexNode implements NodeApi {
  readonly nodeId: string;
  readonly config: GrexConfig;
  readonly logger: Logger;
  readonly flocks: number;
  readonly cluster: ClusterNode;
  #url: string;
  readonly #store: ItemStore;
  readonly #pool: JobPool;
  readonly #clock: FlockClock;
  readonly #scheduler: Scheduler;
  readonly #leadership: FlockLeadership;
  #http: FastifyInstance | null = null;
  #ready = false;
  #stopping: Promise<void> | null = null;
  readonly #startedAt = Date.now();

  private constructor(parts: Parts) {
    this.nodeId = parts.nodeId;
    this.config = parts.config;
    this.logger = parts.logger;
    this.flocks = parts.config.flocks;
    this.#store = parts.store;
    this.#pool = parts.pool;
    this.#clock = parts.clock;
    this.#url = parts.config.url ?? '';
    const { config } = parts;
    this.#scheduler = new Scheduler({
      pool: parts.pool,
      store: parts.store,
      clock: parts.clock,
      flocks: config.flocks,
      jobs: new Set(Object.keys(parts.jobs)),
      jobTimeoutMs: config.jobTimeoutMs,
      maxQueuedJobs: config.maxQueuedJobs,
      maxQueuedPerBucket: config.maxQueuedPerBucket,
      itemLimitBytes: Math.floor(config.itemLimitMb * MIB),
      commit: (flock, _bucketKey, records) => this.#leadership.commit(flock, records, async () => void (await this.#store.commit(flock, records))),
      termOf: (flock) => {
        const term = this.#leadership.termIfLeading(flock);
        if (term === null) throw new GrexError('GREX_ERR_STALE_TERM', `node ${this.nodeId} no longer leads flock ${flock}`, { flock, retryAfterSeconds: 1 });
        return term;
      },
    });
    this.cluster = new ClusterNode({
      self: {
        nodeId: parts.nodeId,
        httpUrl: this.#url,
        bleetUrl: '',
        herd: config.herd,
        ...(config.farm === 'auto' ? {} : { farm: config.farm }),
        incarnation: Date.now(),
      },
      flocks: config.flocks,
      replicas: config.replicas,
      writeQuorum: config.writeQuorum,
      transport: parts.transport,
      peers: parts.seedUrls,
      knownMembers: parts.knownMembers,
      heartbeatMs: config.heartbeatMs,
      suspectAfterMs: config.suspectAfterMs,
      deadAfterMs: config.deadAfterMs,
      bleetTimeoutMs: config.bleetTimeoutMs,
      handler: (method, body, from) => this.#serveBleet(method, body, from),
      onPeerDisconnected: (nodeId) => this.#leadership.peerDisconnected(nodeId),
      ...(parts.saveMembers === undefined ? {} : { onMembersChanged: parts.saveMembers }),
      logger: parts.logger,
    });
    this.#leadership = new FlockLeadership({
      selfId: parts.nodeId,
      cluster: this.cluster,
      clock: parts.clock,
      store: parts.store,
      gates: new FlockGates(),
      writeQuorum: config.writeQuorum,
      invalidateFlock: (flock) => this.#scheduler.invalidateFlock(flock),
      invalidateBucket: (bucketKey) => this.#scheduler.invalidate(bucketKey),
      inBucket: (bucketKey, work) => this.#scheduler.exclusive(bucketKey, work),
      antiEntropyMs: config.antiEntropyMs,
      antiEntropyMbps: config.antiEntropyMbps,
      bleetTimeoutMs: config.bleetTimeoutMs,
      logger: parts.logger,
    });
  }

  /** Starts a node; rejects (and leaves nothing running) if any part fails to start. */
  static async start(options: StartNodeOptions = {}): Promise<GrexNode> {
    const { logger: givenLogger, fromEnv = false, transport: givenTransport, seedUrls, ...input } = options;
    const config = fromEnv ? await loadConfig({ env: process.env, options: input }) : resolveConfig(input);
    if (config.farm !== 'auto') {
      try {
        parseFarm(config.farm, config.flocks);
      } catch (err) {
        throw new GrexError('GREX_ERR_CONFIG_INVALID', `option farm: ${(err as Error).message}`);
      }
    }
    const logger = givenLogger ?? createLogger({ level: config.logLevel });
    const dataDir = resolve(config.data);
    const onStoreError = (err: Error) => logger.error({ err }, 'store background work failed; retrying');
    const store =
      config.store === 'fs'
        ? new ItemStore(new FsBackend({ dir: dataDir, fsync: config.fsync }), {
            wal: { dir: join(dataDir, 'wal'), fsync: config.fsync },
            applyDelayMs: config.coalesceMs,
            onError: onStoreError,
          })
        : new ItemStore(new MemoryBackend());
    const opened = await store.open();
    if (opened.replayedCommits > 0) logger.info(opened, 'replayed the write-ahead log left by an unclean stop');
    let pool: JobPool | undefined;
    let node: GrexNode | undefined;
    try {
      const persistent = config.store === 'fs';
      const nodeId = persistent ? await loadNodeId(dataDir, config.nodeId) : (config.nodeId ?? generateNodeId());
      const jobs = await discoverJobs(config.jobs);
      pool = await JobPool.start({
        threads: config.workers,
        jobs,
        cacheBytes: config.cacheMb * MIB,
        // Reads of the job threads go through the node, so damaged items are repaired (see #readHere).
        store: {
          get: async (bucketKey, itemKey) => {
            const record = await node!.#readHere(bucketKey, itemKey);
            return record === undefined ? undefined : { payload: record.payload, encoding: record.encoding };
          },
          keys: async (bucketKey) => (await store.listLive(flockOf(bucketKey, config.flocks), bucketKey)).map((h) => h.itemKey),
        },
        onError: (err) => logger.error({ err }, 'job thread error'),
      });
      const transport =
        givenTransport ??
        (config.bleet === false ? null : bleetTransport(config.bleet, Math.floor(config.bleetMaxFrameMb * MIB)));
      node = new GrexNode({
        nodeId,
        config,
        logger,
        store,
        pool,
        clock: new FlockClock(store),
        jobs,
        transport,
        seedUrls: [...config.peers.map((p) => `ws://${p}`), ...(seedUrls ?? [])],
        knownMembers: persistent ? (await loadMembers(dataDir)).filter((m) => m.nodeId !== nodeId) : [],
        saveMembers: persistent ? memberSaver(dataDir, (err) => logger.warn({ err }, 'cannot save the member table')) : undefined,
      });
      await node.#listen();
      const bleetUrl = await node.cluster.start();
      node.#leadership.start(config.heartbeatMs);
      node.#ready = true;
      logger.info(
        { nodeId, url: node.url, bleetUrl: bleetUrl || undefined, jobs: Object.keys(jobs), workers: pool.threads, data: persistent ? dataDir : 'memory' },
        `Grex node ${nodeId} ready at ${node.url}`,
      );
      return node;
    } catch (err) {
      if (node !== undefined) {
        await node.#http?.close().catch(() => {});
        await node.cluster.stop().catch(() => {});
      }
      await pool?.close().catch(() => {});
      await store.close().catch(() => {});
      throw err;
    }
  }

  async #listen(): Promise<void> {
    if (this.config.http === false) {
      this.#url ||= `grex://${this.nodeId}`;
      this.cluster.setHttpUrl(this.#url);
      return;
    }
    const { host, port } = splitHostPort(this.config.http);
    const app = createHttpServer(this, { bodyLimitBytes: Math.floor(this.config.bodyLimitMb * MIB), logger: this.logger });
    await app.listen({ host, port });
    this.#http = app;
    const address = app.server.address();
    if (this.#url === '' && address !== null && typeof address === 'object') {
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      this.#url = `http://${shownHost}:${address.port}`;
    }
    this.cluster.setHttpUrl(this.#url);
  }

  /** The URL clients and peers reach this node at. */
  get url(): string {
    return this.#url;
  }

  isReady(): boolean {
    return this.#ready && this.cluster.joined;
  }

  uptimeSeconds(): number {
    return Math.round((Date.now() - this.#startedAt) / 1000);
  }

  // ---- the job path ----

  /** Runs a job on a bucket (here or on its active node) and resolves with its result once the change is acknowledged. */
  async submit<R = unknown>(bucketKey: string, jobName: string, data?: unknown): Promise<SubmitResult<R>> {
    const outcome = await this.runJob({
      bucketKey,
      jobName,
      data: encodeJobValue(data),
      dataEncoding: 'value',
      resultEncoding: 'value',
    });
    return { result: itemCodec.unpack(outcome.result as Uint8Array) as R, activeNode: outcome.activeNode };
  }

  async runJob(request: JobRequest): Promise<{ result: string | Uint8Array; activeNode: string }> {
    assertBucketKey(request.bucketKey);
    assertJobName(request.jobName);
    return this.#onActiveNode(
      request.bucketKey,
      () => this.#runJobHere(request),
      async (nodeId) => {
        this.cluster.counters.jobsForwarded++;
        return this.cluster.request(
          nodeId,
          'job',
          { ...request, data: request.data ?? null },
          this.config.jobTimeoutMs + this.config.bleetTimeoutMs,
        );
      },
    );
  }

  async #runJobHere(request: JobRequest): Promise<{ result: string | Uint8Array; activeNode: string }> {
    this.cluster.counters.jobsLocal++;
    await this.#leadership.ensureLeading(flockOf(request.bucketKey, this.flocks));
    const outcome = await this.#scheduler.submit(request);
    return { result: outcome.result, activeNode: this.#url };
  }

  /**
   * Runs `here` if this node is the bucket's active node, else `there` on the
   * active node. A node that turns out not to be active (views differ for a
   * moment) names the one it knows; that one is tried once.
   */
  async #onActiveNode<T>(bucketKey: string, here: () => Promise<T>, there: (nodeId: string) => Promise<T>): Promise<T> {
    if (!this.cluster.joined) throw new GrexError('GREX_ERR_NOT_READY', 'this node has not joined its cluster yet');
    const route = this.cluster.route(flockOf(bucketKey, this.flocks));
    if (route.active === null) throw this.#unassigned(route.flock, route.herders);
    if (route.active === this.nodeId) return here();
    try {
      return await there(route.active);
    } catch (err) {
      const hint = (err as GrexError).code === 'GREX_ERR_NOT_ACTIVE' ? (err as GrexError).data?.activeNodeId : undefined;
      if (typeof hint !== 'string' || hint === route.active || hint === this.nodeId) throw err;
      this.cluster.counters.notActiveRetries++;
      return there(hint);
    }
  }

  #unassigned(flock: number, herders: readonly string[]): GrexError {
    return new GrexError(
      'GREX_ERR_FLOCK_UNASSIGNED',
      herders.length === 0 ? `no node herds flock ${flock}` : `no herder of flock ${flock} is live (${herders.join(', ')})`,
      { flock, herders: [...herders], retryAfterSeconds: 1 },
    );
  }

  /** Throws GREX_ERR_NOT_ACTIVE unless this node is the active node of the bucket's flock. */
  #assertActive(bucketKey: string): void {
    const route = this.cluster.route(flockOf(bucketKey, this.flocks));
    if (route.active === this.nodeId) return;
    const active = route.active === null ? undefined : this.cluster.member(route.active);
    throw new GrexError('GREX_ERR_NOT_ACTIVE', `node ${this.nodeId} is not the active node of flock ${route.flock}`, {
      flock: route.flock,
      activeNodeId: route.active,
      activeNode: active?.httpUrl ?? null,
      mapVersion: this.cluster.mapVersion,
      retryAfterSeconds: 1,
    });
  }

  // ---- bleets from peers ----

  async #serveBleet<M extends Exclude<BleetMethod, 'members'>>(method: M, body: BleetRequest<M>, from: MemberInfo): Promise<BleetResponse<M>> {
    switch (method) {
      case 'job': {
        const request = body as BleetRequest<'job'>;
        assertBucketKey(request.bucketKey);
        this.#assertActive(request.bucketKey);
        this.cluster.counters.jobsReceived++;
        const answer = await this.#runJobHere({ ...request, data: request.data ?? undefined });
        return answer as BleetResponse<M>;
      }
      case 'replicate': {
        const { flock, term, records } = body as BleetRequest<'replicate'>;
        this.#assertHerder(flock);
        return (await this.#leadership.onReplicate(flock, term, this.#decodeRecords(flock, records))) as BleetResponse<M>;
      }
      case 'claim': {
        const { flock, term } = body as BleetRequest<'claim'>;
        this.#assertHerder(flock);
        return { entries: await this.#leadership.onClaim(flock, term, from.nodeId) } as BleetResponse<M>;
      }
      case 'fetch': {
        const { flock, keys } = body as BleetRequest<'fetch'>;
        return { records: await this.#leadership.onFetch(flock, keys) } as BleetResponse<M>;
      }
      case 'sync': {
        const { flock, term, from: start, to, entries, verify } = body as BleetRequest<'sync'>;
        this.#assertHerder(flock);
        return (await this.#leadership.onSync(flock, term, start, to, entries, from.nodeId, verify)) as BleetResponse<M>;
      }
      case 'digest': {
        const { flock } = body as BleetRequest<'digest'>;
        return (await this.#leadership.onDigest(flock)) as BleetResponse<M>;
      }
      case 'purge': {
        const { flock, term, entries } = body as BleetRequest<'purge'>;
        this.#assertHerder(flock);
        return { purged: await this.#leadership.onPurge(flock, term, entries) } as BleetResponse<M>;
      }
      case 'item.get': {
        const { bucketKey, itemKey } = body as BleetRequest<'item.get'>;
        this.#assertActive(bucketKey);
        await this.#leadership.ensureLeading(flockOf(bucketKey, this.flocks));
        const record = await this.#readHere(bucketKey, itemKey);
        return { record: record === undefined ? null : encodeItemRecord(record) } as BleetResponse<M>;
      }
      case 'item.list': {
        const { bucketKey } = body as BleetRequest<'item.list'>;
        this.#assertActive(bucketKey);
        await this.#leadership.ensureLeading(flockOf(bucketKey, this.flocks));
        return { items: await this.#listHere(bucketKey) } as BleetResponse<M>;
      }
      case 'item.write': {
        const request = body as BleetRequest<'item.write'>;
        this.#assertActive(request.bucketKey);
        await this.#leadership.ensureLeading(flockOf(request.bucketKey, this.flocks));
        const ifMatch = request.ifMatch === null ? undefined : parseVersion(request.ifMatch) ?? undefined;
        const version = await this.#scheduler.writeItem({
          bucketKey: request.bucketKey,
          itemKey: request.itemKey,
          bytes: request.bytes,
          encoding: request.encoding,
          ifMatch,
        });
        return { version: formatVersion(version) } as BleetResponse<M>;
      }
    }
    throw new GrexError('GREX_ERR_BLEET_INVALID', `unexpected bleet ${String(method)}`);
  }

  #assertHerder(flock: number): void {
    if (flock >= this.flocks || !this.cluster.route(flock).herders.includes(this.nodeId)) {
      throw new GrexError('GREX_ERR_NOT_HERDER', `node ${this.nodeId} does not herd flock ${flock}`, { flock });
    }
  }

  /** Records that came in a bleet: valid keys, and all of the flock they claim to be in. */
  #decodeRecords(flock: number, encoded: readonly Uint8Array[]): ItemRecord[] {
    return encoded.map((bytes) => {
      const record = decodeItemRecord(bytes, `replicated write of flock ${flock}`);
      assertBucketKey(record.bucketKey);
      assertItemKey(record.itemKey);
      if (flockOf(record.bucketKey, this.flocks) !== flock) throw new GrexError('GREX_ERR_BLEET_INVALID', `bucket ${record.bucketKey} is not in flock ${flock}`);
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

  // ---- items and routes (NodeApi) ----

  route(bucketKey: string): RouteInfo {
    assertBucketKey(bucketKey);
    const route = this.cluster.route(flockOf(bucketKey, this.flocks));
    const urlOf = (nodeId: string) => this.cluster.member(nodeId)?.httpUrl ?? nodeId;
    return {
      bucketKey,
      flock: route.flock,
      flocks: this.flocks,
      activeNode: route.active === null ? null : urlOf(route.active),
      herders: route.herders.map(urlOf),
    };
  }

  /** This node's copy of an item; a damaged copy is repaired from the herders when this node leads the flock. */
  async #readHere(bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    const flock = flockOf(bucketKey, this.flocks);
    try {
      return await this.#store.readLive(flock, bucketKey, itemKey);
    } catch (err) {
      if ((err as GrexError).code !== 'GREX_ERR_STORE_CORRUPT' || this.#leadership.termIfLeading(flock) === null) throw err;
      return this.#leadership.repair(flock, bucketKey, itemKey);
    }
  }

  async #listHere(bucketKey: string): Promise<ItemListing[]> {
    const headers = await this.#store.listLive(flockOf(bucketKey, this.flocks), bucketKey);
    return headers.map((h) => ({ itemKey: h.itemKey, version: formatVersion(h.version), size: h.size, encoding: h.encoding }));
  }

  /** An item, from the active node; with `local`, this node's own replica (it must herd the flock). */
  async readItem(bucketKey: string, itemKey: string, options: { local?: boolean } = {}): Promise<ItemRecord | undefined> {
    assertBucketKey(bucketKey);
    assertItemKey(itemKey);
    if (options.local === true) {
      const flock = flockOf(bucketKey, this.flocks);
      if (!this.cluster.route(flock).herders.includes(this.nodeId)) {
        throw new GrexError('GREX_ERR_NOT_HERDER', `node ${this.nodeId} does not herd flock ${flock}`, { flock });
      }
      return this.#readHere(bucketKey, itemKey);
    }
    return this.#onActiveNode(
      bucketKey,
      async () => {
        await this.#leadership.ensureLeading(flockOf(bucketKey, this.flocks));
        return this.#readHere(bucketKey, itemKey);
      },
      async (nodeId) => {
        const { record } = await this.cluster.request(nodeId, 'item.get', { bucketKey, itemKey });
        return record === null ? undefined : decodeItemRecord(record, `item ${itemKey} from ${nodeId}`, { bucketKey, itemKey });
      },
    );
  }

  listItems(bucketKey: string): Promise<ItemListing[]> {
    assertBucketKey(bucketKey);
    return this.#onActiveNode(
      bucketKey,
      async () => {
        await this.#leadership.ensureLeading(flockOf(bucketKey, this.flocks));
        return this.#listHere(bucketKey);
      },
      async (nodeId) => (await this.cluster.request(nodeId, 'item.list', { bucketKey })).items,
    );
  }

  writeItem(write: ItemWrite): Promise<Version> {
    assertBucketKey(write.bucketKey);
    assertItemKey(write.itemKey);
    return this.#onActiveNode(
      write.bucketKey,
      async () => {
        await this.#leadership.ensureLeading(flockOf(write.bucketKey, this.flocks));
        return this.#scheduler.writeItem(write);
      },
      async (nodeId) => {
        const answer = await this.cluster.request(nodeId, 'item.write', {
          bucketKey: write.bucketKey,
          itemKey: write.itemKey,
          bytes: write.bytes,
          encoding: write.encoding,
          ifMatch: write.ifMatch === undefined ? null : formatVersion(write.ifMatch),
        });
        const version = parseVersion(answer.version);
        if (version === null) throw new GrexError('GREX_ERR_BLEET_INVALID', `bad version ${answer.version} from ${nodeId}`);
        return version;
      },
    );
  }

  clusterInfo(): Record<string, unknown> {
    const snapshot = this.cluster.snapshot();
    return {
      url: this.#url,
      ...snapshot,
      flocksLeading: this.#leadership.ledFlocks().length,
      counters: { ...(snapshot.counters as object), ...this.#leadership.counters },
    };
  }

  /** This node's view of one flock's leadership: herders, active node, promised term, in-sync herders if it leads. */
  describeFlock(flock: number): Promise<Record<string, unknown>> {
    if (!Number.isInteger(flock) || flock < 0 || flock >= this.flocks) {
      return Promise.reject(new GrexError('GREX_ERR_ROUTE_NOT_FOUND', `there is no flock ${flock} (flocks: 0-${this.flocks - 1})`));
    }
    return this.#leadership.describe(flock);
  }

  setBlockedPeers(nodeIds: string[]): string[] | null {
    if (!this.config.faultInjection) return null;
    this.logger.warn({ blocked: nodeIds }, 'fault injection: blocking peers');
    this.cluster.setBlocked(nodeIds);
    return this.cluster.blocked;
  }

  /** The flocks this node leads now, with the term and the herders in sync. */
  leadership(): { flock: number; term: number; synced: string[] }[] {
    return this.#leadership.ledFlocks().map((flock) => ({ flock, term: this.#leadership.termIfLeading(flock)!, synced: this.#leadership.syncedHerders(flock) }));
  }

  /** Cache counters of each job thread. */
  cacheStats(): Promise<CacheStats[]> {
    return this.#pool.stats();
  }

  /** Jobs running or waiting on this node. */
  get queuedJobs(): number {
    return this.#scheduler.queued;
  }

  /**
   * Stops gracefully: refuses new jobs, lets running and queued ones finish
   * (their answers are sent), closes the listener, the peers, the threads and
   * the store. Safe to call more than once.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#ready = false;
    this.logger.info({ nodeId: this.nodeId, queued: this.#scheduler.queued }, 'Grex node stopping');
    await Promise.all([this.#scheduler.stop(), this.#http?.close()]);
    await this.#leadership.stop();
    await this.cluster.stop();
    await this.#pool.close();
    await this.#store.close();
    this.logger.info({ nodeId: this.nodeId }, 'Grex node stopped');
  }
}

function splitHostPort(address: string): { host: string; port: number } {
  const separator = address.lastIndexOf(':');
  return { host: address.slice(0, separator).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(separator + 1)) };
}

function bleetTransport(address: string, maxFrameBytes: number): Transport {
  const { host, port } = splitHostPort(address);
  return new WsTransport({ host, port, maxFrameBytes });
}

/** Starts a Grex node in this process. */
export function startNode(options: StartNodeOptions = {}): Promise<GrexNode> {
  return GrexNode.start(options);
}

export { GrexError };
