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
  AuthenticatedTransport,
  ClusterNode,
  FlockGates,
  FlockLeadership,
  loadMembers,
  memberSaver,
  formatFarm,
  parseFarm,
  WsTransport,
  type BleetMethod,
  type BleetRequest,
  type BleetResponse,
  type MemberInfo,
  type NodeStatsBleet,
  type Transport,
} from './cluster/index.js';
import { HANDSHAKE_FRAMES, MAX_AUTH_FRAME_BYTES } from './cluster/bleet-auth.js';
import { DEFAULT_LINK_LIMITS } from './cluster/bleet-link.js';
import { buildOverview, type ClusterOverview } from './cluster/cluster-overview.js';
import { itemCodec } from './codec.js';
import { loadConfig, resolveConfig } from './config/load-config.js';
import type { GrexConfig, GrexConfigInput } from './config/options.js';
import { GrexError } from './errors.js';
import { checkFarmPlan } from './cluster/farm-plan.js';
import { RequestBudget } from './http/admission.js';
import { createHttpServer } from './http/server.js';
import type { ItemListing, NodeApi, RouteInfo } from './http/node-api.js';
import { assertBucketKey, assertItemKey, assertJobName, flockOf } from './keys.js';
import { createLogger, type Logger } from './log.js';
import { CachePoller } from './metrics/cache-totals.js';
import { NodeMetrics } from './metrics/node-metrics.js';
import { generateNodeId, loadNodeId } from './node-identity.js';
import { readClusterSecret, securityWarnings } from './node-security.js';
import { readTls, type TlsMaterial } from './tls.js';
import { encodeJobValue, FlockClock, Scheduler, type ItemWrite, type JobRequest } from './scheduler/index.js';
import { decodeListAppend } from './store/item-delta.js';
import { decodeItemRecord, decodeRecordBytes, encodeItemRecord, type RecordBytes } from './store/item-record.js';
import {
  formatVersion,
  FsBackend,
  DEFAULT_PENDING_BYTES_MAX,
  ItemStore,
  MemoryBackend,
  parseVersion,
  type ItemRecord,
  type Version,
} from './store/index.js';
import { discoverJobs, JobPool, type CacheStats } from './workers/index.js';
import type { GrexJobs, JobDataArgs, JobName, JobResult, UntypedJobName } from './job.js';

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

/**
 * Memory for committed writes not yet in item files: a quarter of the cache
 * budget, 8 to 64 MiB (64 MiB with the default 256 MiB cache). A node given
 * a small cache is meant to be small; its item files are then written
 * sooner and commits wait sooner when the disk falls behind.
 */
function pendingBytesFor(cacheMb: number): number {
  return Math.min(DEFAULT_PENDING_BYTES_MAX, Math.max(8 * MIB, Math.floor((cacheMb * MIB) / 4)));
}
/** How long the overview waits for a member's counters before showing it without them. */
const OVERVIEW_TIMEOUT_MS = 1000;
/** How long a request refused before anything was stored waits for this node's view to name another active node. */
const REROUTE_WAIT_MS = 2000;

/**
 * Whether a request's refusal left nothing stored, so it may run once more
 * elsewhere: the node was not its active node (it checks before running it),
 * or it refused with `stored: false` (it no longer led the flock, or could not
 * claim it, before the job's first write). A quorum miss, a replica's stale
 * refusal after the write, a timeout or a lost connection may have stored it.
 */
function leftNothing(err: unknown): boolean {
  if (!(err instanceof GrexError)) return false;
  if (err.code === 'GREX_ERR_NOT_ACTIVE') return true;
  return (err.code === 'GREX_ERR_STALE_TERM' || err.code === 'GREX_ERR_FLOCK_UNAVAILABLE') && err.data?.stored === false;
}

interface Parts {
  nodeId: string;
  config: GrexConfig;
  logger: Logger;
  store: ItemStore;
  pool: JobPool;
  clock: FlockClock;
  jobs: Record<string, string>;
  transport: Transport | null;
  tls: TlsMaterial | null;
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
  readonly #tls: TlsMaterial | null;
  readonly #metrics: NodeMetrics;
  readonly #cache: CachePoller;
  /** What the HTTP requests being served hold (admission.ts). */
  readonly #budget: RequestBudget;
  #ready = false;
  #stopping: Promise<void> | null = null;
  #leaving: Promise<void> | null = null;
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
    this.#tls = parts.tls;
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
        if (term === null) throw new GrexError('GREX_ERR_STALE_TERM', `node ${this.nodeId} no longer leads flock ${flock}`, { flock, retryAfterSeconds: 1, stored: false });
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
      // A bleet (a frame and its attachments) is bounded like one frame.
      limits: { ...DEFAULT_LINK_LIMITS, maxBleetBytes: Math.floor(config.bleetMaxFrameMb * MIB) },
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
      transferMbps: config.transferMbps,
      hotBuckets: (flock) => this.#scheduler.hotBuckets(flock),
      warmBuckets: async (buckets) => {
        const warmed = await Promise.allSettled(buckets.map((bucketKey) => this.#scheduler.warm(bucketKey)));
        return warmed.filter((w) => w.status === 'fulfilled').length;
      },
      bleetTimeoutMs: config.bleetTimeoutMs,
      logger: parts.logger,
      onReplicated: (seconds, err) => this.#metrics.replicated(seconds, err),
    });
    this.#budget = new RequestBudget({
      maxRequests: config.maxHttpRequests,
      maxBodyBytes: Math.floor(config.maxHttpBodyMb * MIB),
      bodyLimitBytes: Math.floor(config.bodyLimitMb * MIB),
    });
    this.#cache = new CachePoller(() => parts.pool.stats());
    this.#metrics = this.#createMetrics(new Set(Object.keys(parts.jobs)));
  }

  #createMetrics(jobNames: ReadonlySet<string>): NodeMetrics {
    return new NodeMetrics(jobNames, {
      queue: () => ({ jobs: this.#scheduler.queued, buckets: this.#scheduler.queuedBuckets }),
      cache: () => this.#cache.totals(),
      flocks: () => {
        let herded = 0;
        let active = 0;
        for (let flock = 0; flock < this.flocks; flock++) {
          const route = this.cluster.route(flock);
          if (route.target.includes(this.nodeId)) herded++;
          if (route.active === this.nodeId) active++;
        }
        return { herded, holding: this.#leadership.herdingCount, active, led: this.#leadership.ledFlocks().length };
      },
      store: () => ({ ...this.#store.usage(), pendingBytes: this.#store.pendingBytes }),
      connections: () => this.cluster.connectionCounts(),
      members: () => {
        const counts = { alive: 0, suspect: 0, dead: 0 };
        for (const m of this.cluster.members()) counts[this.cluster.stateOf(m.nodeId)]++;
        return counts;
      },
      cluster: () => this.cluster.counters,
      http: () => ({ requests: this.#budget.requests, bodyBytes: this.#budget.bodyBytes }),
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
    const secret = await readClusterSecret(config);
    const tls = await readTls(config);
    for (const warning of securityWarnings(config, secret !== undefined)) logger.warn({ security: true }, warning);
    const dataDir = resolve(config.data);
    const onStoreError = (err: Error) => logger.error({ err }, 'store background work failed; retrying');
    const store =
      config.store === 'fs'
        ? new ItemStore(new FsBackend({ dir: dataDir, fsync: config.fsync }), {
            wal: { dir: join(dataDir, 'wal'), fsync: config.fsync },
            applyDelayMs: config.coalesceMs,
            pendingBytesMax: pendingBytesFor(config.cacheMb),
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
      const plainTransport =
        givenTransport ??
        (config.bleet === false ? null : bleetTransport(config.bleet, Math.floor(config.bleetMaxFrameMb * MIB), tls, secret !== undefined));
      // With a secret, no connection reaches the bleet link before it proved it knows it.
      const transport =
        plainTransport === null || secret === undefined ? plainTransport : new AuthenticatedTransport(plainTransport, { secret, selfId: nodeId, logger });
      node = new GrexNode({
        nodeId,
        config,
        logger,
        store,
        pool,
        clock: new FlockClock(store),
        jobs,
        transport,
        tls,
        seedUrls: [...config.peers.map((p) => `${tls === null ? 'ws' : 'wss'}://${p}`), ...(seedUrls ?? [])],
        knownMembers: persistent ? (await loadMembers(dataDir)).filter((m) => m.nodeId !== nodeId) : [],
        saveMembers: persistent ? memberSaver(dataDir, (err) => logger.warn({ err }, 'cannot save the member table')) : undefined,
      });
      await node.#leadership.loadHerding();
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
        node.#metrics.close();
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
    const app = createHttpServer(this, {
      bodyLimitBytes: Math.floor(this.config.bodyLimitMb * MIB),
      logger: this.logger,
      admin: { token: this.config.adminToken, protectReads: this.config.protectReads },
      ...(this.#tls === null ? {} : { https: { key: this.#tls.key, cert: this.#tls.cert } }),
      budget: this.#budget,
      onRefused: () => this.#metrics.overloaded('http'),
    });
    await app.listen({ host, port });
    this.#http = app;
    const address = app.server.address();
    if (this.#url === '' && address !== null && typeof address === 'object') {
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      this.#url = `${this.#tls === null ? 'http' : 'https'}://${shownHost}:${address.port}`;
    }
    this.cluster.setHttpUrl(this.#url);
  }

  /** The URL clients and peers reach this node at. */
  get url(): string {
    return this.#url;
  }

  /**
   * An app that mounts Grex's routes (the grexRoutes plugin, in
   * src/http/server.ts) reports where they are served once it listens: that
   * becomes this node's URL, unless the `url` option or the node's own
   * listener already fixed it.
   */
  routesServedAt(url: string): void {
    if (this.config.url !== undefined || this.config.http !== false || this.#stopping !== null || url === this.#url) return;
    this.#url = url;
    this.cluster.setHttpUrl(url);
    this.logger.info({ nodeId: this.nodeId, url }, `Grex node ${this.nodeId} serves HTTP at ${url}`);
  }

  /** Largest HTTP request body (the bodyLimitMb option), for apps that mount the routes. */
  get bodyLimitBytes(): number {
    return Math.floor(this.config.bodyLimitMb * MIB);
  }

  isReady(): boolean {
    return this.#ready && this.cluster.joined;
  }

  uptimeSeconds(): number {
    return Math.round((Date.now() - this.#startedAt) / 1000);
  }

  // ---- the job path ----

  /**
   * Runs a job on a bucket (here or on its active node) and resolves with its
   * result once the change is acknowledged. Jobs named in `GrexJobs` (see
   * grex/job) take their typed data and give their typed result.
   */
  submit<R = unknown, N extends string = string>(bucketKey: string, jobName: UntypedJobName<N>, data?: unknown): Promise<SubmitResult<R>>;
  submit<N extends JobName>(bucketKey: string, jobName: N, ...data: JobDataArgs<GrexJobs[N]>): Promise<SubmitResult<JobResult<GrexJobs[N]>>>;
  async submit<R>(bucketKey: string, jobName: string, data?: unknown): Promise<SubmitResult<R>> {
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
      'job',
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
    const started = performance.now();
    try {
      await this.#leadership.ensureLeading(flockOf(request.bucketKey, this.flocks));
      const outcome = await this.#scheduler.submit(request);
      this.#metrics.jobDone(request.jobName, (performance.now() - started) / 1000);
      return { result: outcome.result, activeNode: this.#url };
    } catch (err) {
      this.#metrics.jobDone(request.jobName, (performance.now() - started) / 1000, err);
      throw err;
    }
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
  async #onActiveNode<T>(bucketKey: string, what: string, here: () => Promise<T>, there: (nodeId: string) => Promise<T>): Promise<T> {
    if (this.#stopping !== null) throw new GrexError('GREX_ERR_SHUTTING_DOWN', 'the node is stopping');
    if (!this.cluster.joined) throw new GrexError('GREX_ERR_NOT_READY', 'this node has not joined its cluster yet');
    const flock = flockOf(bucketKey, this.flocks);
    const runOn = (nodeId: string) => (nodeId === this.nodeId ? here() : this.#forward(what, nodeId, there));
    const first = this.#activeNodeOf(flock);
    try {
      return await runOn(first);
    } catch (err) {
      if (!leftNothing(err) || this.#stopping !== null) throw err;
      // Refused by another node: its view is ahead of this node's (the flock moved), so take its view.
      // Refused here: this node's view is the one that counts, go by it now.
      if (first !== this.nodeId) await this.cluster.catchUpWith(first);
      let next = this.#activeNodeOrNull(flock);
      const hint = (err as GrexError).code === 'GREX_ERR_NOT_ACTIVE' ? (err as GrexError).data?.activeNodeId : undefined;
      if (next === first && first !== this.nodeId) {
        if (typeof hint === 'string' && hint !== first && this.cluster.isLive(hint)) {
          // The views still differ (liveness is each node's own): the node asked names another.
          this.cluster.counters.notActiveRetries++;
          next = hint;
        } else {
          // Wait for this node's view to name another node; still the same one: it refused only
          // for a moment (a claim in progress, a step-down), so once more there.
          const deadline = Date.now() + REROUTE_WAIT_MS;
          while (this.#activeNodeOrNull(flock) === first && Date.now() < deadline && this.#stopping === null) {
            await this.cluster.viewChange(Math.min(this.config.heartbeatMs, deadline - Date.now()));
          }
          next = this.#activeNodeOrNull(flock);
        }
      }
      if (next === null || this.#stopping !== null) throw err;
      this.cluster.counters.rerouted++;
      return runOn(next);
    }
  }

  /** The bucket's active node in this node's view (a learner passes it to the next live herder); null: none live. */
  #activeNodeOrNull(flock: number): string | null {
    const route = this.cluster.route(flock);
    // Still copying the flock (a learner whose announcement has not spread): the next live herder serves it.
    if (route.active === this.nodeId && !this.#leadership.mayPromise(flock)) {
      return route.herders.find((id) => id !== this.nodeId && this.cluster.isLive(id)) ?? null;
    }
    return route.active;
  }

  #activeNodeOf(flock: number): string {
    const active = this.#activeNodeOrNull(flock);
    if (active === null) throw this.#unassigned(flock, this.cluster.route(flock).herders);
    return active;
  }

  async #forward<T>(what: string, nodeId: string, there: (nodeId: string) => Promise<T>): Promise<T> {
    try {
      const answer = await there(nodeId);
      this.#metrics.forwarded(what);
      return answer;
    } catch (err) {
      this.#metrics.forwarded(what, err);
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
  async #assertActive(bucketKey: string, from: string): Promise<void> {
    const flock = flockOf(bucketKey, this.flocks);
    if (this.#activeNodeOrNull(flock) === this.nodeId) return;
    await this.cluster.catchUpWith(from);
    const activeId = this.#activeNodeOrNull(flock);
    if (activeId === this.nodeId) return;
    const active = activeId === null ? undefined : this.cluster.member(activeId);
    throw new GrexError('GREX_ERR_NOT_ACTIVE', `node ${this.nodeId} is not the active node of flock ${flock}`, {
      flock,
      activeNodeId: activeId,
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
        await this.#assertActive(request.bucketKey, from.nodeId);
        this.cluster.counters.jobsReceived++;
        const answer = await this.#runJobHere({ ...request, data: request.data ?? undefined });
        return answer as BleetResponse<M>;
      }
      case 'replicate': {
        const { flock, term, records } = body as BleetRequest<'replicate'>;
        this.#assertStores(flock);
        return (await this.#leadership.onReplicate(flock, term, this.#decodeRecords(flock, records))) as BleetResponse<M>;
      }
      case 'claim': {
        const { flock, term, adopt } = body as BleetRequest<'claim'>;
        this.#assertFlock(flock);
        return (await this.#leadership.onClaim(flock, term, from.nodeId, adopt)) as BleetResponse<M>;
      }
      case 'fetch': {
        const { flock, keys } = body as BleetRequest<'fetch'>;
        return { records: await this.#leadership.onFetch(flock, keys) } as BleetResponse<M>;
      }
      case 'sync': {
        const { flock, term, from: start, to, entries, verify, page, pages } = body as BleetRequest<'sync'>;
        this.#assertStores(flock);
        return (await this.#leadership.onSync(flock, term, start, to, entries, from.nodeId, verify, { page, pages })) as BleetResponse<M>;
      }
      case 'herd': {
        const { flock, term } = body as BleetRequest<'herd'>;
        this.#assertFlock(flock);
        return { herding: await this.#leadership.onHerd(flock, term) } as BleetResponse<M>;
      }
      case 'plan': {
        const { farm } = body as BleetRequest<'plan'>;
        return { farm: this.#applyFarm(farm) } as BleetResponse<M>;
      }
      case 'warm': {
        const { flock, buckets } = body as BleetRequest<'warm'>;
        this.#assertFlock(flock);
        return { loaded: await this.#leadership.onWarm(flock, buckets) } as BleetResponse<M>;
      }
      case 'digest': {
        const { flock } = body as BleetRequest<'digest'>;
        return (await this.#leadership.onDigest(flock)) as BleetResponse<M>;
      }
      case 'purge': {
        const { flock, term, entries } = body as BleetRequest<'purge'>;
        this.#assertStores(flock);
        return { purged: await this.#leadership.onPurge(flock, term, entries) } as BleetResponse<M>;
      }
      case 'item.get': {
        const { bucketKey, itemKey } = body as BleetRequest<'item.get'>;
        await this.#assertActive(bucketKey, from.nodeId);
        await this.#leadership.ensureLeading(flockOf(bucketKey, this.flocks));
        const record = await this.#readHere(bucketKey, itemKey);
        return { record: record === undefined ? null : encodeItemRecord(record) } as BleetResponse<M>;
      }
      case 'item.list': {
        const { bucketKey } = body as BleetRequest<'item.list'>;
        await this.#assertActive(bucketKey, from.nodeId);
        await this.#leadership.ensureLeading(flockOf(bucketKey, this.flocks));
        return { items: await this.#listHere(bucketKey) } as BleetResponse<M>;
      }
      case 'item.write': {
        const request = body as BleetRequest<'item.write'>;
        await this.#assertActive(request.bucketKey, from.nodeId);
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
      case 'stats':
        return (await this.#nodeStats()) as BleetResponse<M>;
    }
    throw new GrexError('GREX_ERR_BLEET_INVALID', `unexpected bleet ${String(method)}`);
  }

  #assertFlock(flock: number): void {
    if (flock >= this.flocks) throw new GrexError('GREX_ERR_BLEET_INVALID', `there is no flock ${flock}`);
  }

  /** Replicated writes, syncs and purges: only for a node that herds the flock or is learning it. */
  #assertStores(flock: number): void {
    this.#assertFlock(flock);
    if (!this.#leadership.mayStore(flock)) {
      throw new GrexError('GREX_ERR_NOT_HERDER', `node ${this.nodeId} does not herd flock ${flock}`, { flock });
    }
  }

  /** Records that came in a bleet: valid keys, and all of the flock they claim to be in. */
  #decodeRecords(flock: number, encoded: readonly RecordBytes[]): ItemRecord[] {
    return encoded.map((bytes) => {
      const record = decodeRecordBytes(bytes, `replicated write of flock ${flock}`);
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
      if (!this.#leadership.mayPromise(flock)) {
        throw new GrexError('GREX_ERR_NOT_HERDER', `node ${this.nodeId} does not herd flock ${flock}`, { flock });
      }
      return this.#readHere(bucketKey, itemKey);
    }
    return this.#onActiveNode(
      bucketKey,
      'item.get',
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
      'item.list',
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
      'item.write',
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
      flocksHerding: this.#leadership.herdingCount,
      herdingFlocks: formatFarm(this.#leadership.herdingList()),
      leaving: this.#leaving !== null,
      transfers: [...this.#leadership.transfers.values()],
      counters: { ...(snapshot.counters as object), ...this.#leadership.counters },
    };
  }

  // ---- rebalancing: leave, remove, farm plans ----

  /**
   * Drains this node: it stops herding (herd false), so its flocks get other
   * target herders; each flock is dropped once they all herd it. Resolves when
   * this node herds nothing; then it stops. Safe to call again (same promise).
   */
  leave(): Promise<void> {
    this.#leaving ??= this.#drain();
    return this.#leaving;
  }

  async #drain(): Promise<void> {
    this.logger.info({ nodeId: this.nodeId, herding: this.#leadership.herdingCount }, 'leaving the cluster: handing over every flock');
    this.cluster.declare({ herd: false, farm: null });
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (this.#stopping !== null || (this.#leadership.herdingCount === 0 && this.#leadership.ledFlocks().length === 0)) {
          clearInterval(timer);
          resolve();
        }
      }, this.config.heartbeatMs);
    });
    // Let the last announcement (herding nothing) reach the others before going.
    this.#leadership.announceNow();
    await this.cluster.flushMembers(this.config.bleetTimeoutMs);
    this.logger.info({ nodeId: this.nodeId }, 'left the cluster: every flock handed over');
    await this.stop();
  }

  /** Removes a dead member for good; its flocks get new herders. */
  removeMember(nodeId: string): Record<string, unknown> {
    this.cluster.removeMember(nodeId);
    return { removed: nodeId, mapVersion: this.cluster.mapVersion };
  }

  /**
   * Sets a manual farm plan: checked whole against the members, then sent to
   * every herding member (each node speaks for its own entry). Refused, with
   * nothing changed, if it is invalid or a member named cannot be reached.
   */
  async setFarmPlan(plan: unknown): Promise<Record<string, unknown>> {
    const { farms } = checkFarmPlan(plan, this.cluster.members(), this.flocks);
    const unreachable = [...farms.keys()].filter((id) => id !== this.nodeId && (!this.cluster.isLive(id) || this.cluster.linkTo(id) === undefined));
    if (unreachable.length > 0) {
      throw new GrexError('GREX_ERR_PEER_UNAVAILABLE', `cannot reach ${unreachable.join(', ')}; the plan was not applied`, { nodeIds: unreachable, retryAfterSeconds: 1 });
    }
    await Promise.all(
      [...farms].map(([nodeId, farm]) => (nodeId === this.nodeId ? Promise.resolve(this.#applyFarm(farm)) : this.cluster.request(nodeId, 'plan', { farm }))),
    );
    this.logger.info({ nodes: farms.size }, 'farm plan applied');
    return { farms: Object.fromEntries(farms), mapVersion: this.cluster.mapVersion };
  }

  /** This node's part of a farm plan ('' none, null back to auto). */
  #applyFarm(farm: string | null): string | null {
    if (farm !== null && farm !== '') parseFarm(farm, this.flocks);
    this.cluster.declare({ farm });
    return farm;
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

  /** This node's counters for the cluster overview (the `stats` bleet). */
  async #nodeStats(): Promise<NodeStatsBleet> {
    const cache = await this.#cache.totals();
    return {
      jobsOk: this.#metrics.jobsOk,
      jobsFailed: this.#metrics.jobsFailed,
      cacheHits: cache.hits,
      cacheMisses: cache.misses,
      queued: this.#scheduler.queued,
      led: this.#leadership.ledFlocks().map((flock) => {
        const herders = this.cluster.route(flock).herders;
        return [flock, 1 + this.#leadership.syncedHerders(flock).filter((id) => herders.includes(id)).length];
      }),
    };
  }

  /** The cluster at a glance: this node's view, with every reachable member's counters (GET /cluster/overview). */
  async clusterOverview(): Promise<ClusterOverview> {
    const members = this.cluster.members();
    const stats = new Map<string, NodeStatsBleet>();
    await Promise.all(
      members.map(async (m) => {
        const answer =
          m.nodeId === this.nodeId
            ? await this.#nodeStats()
            : await this.cluster.request(m.nodeId, 'stats', {}, OVERVIEW_TIMEOUT_MS).catch(() => null);
        if (answer !== null) stats.set(m.nodeId, answer);
      }),
    );
    return buildOverview({
      selfId: this.nodeId,
      flocks: this.flocks,
      replicas: this.cluster.replicas,
      mode: this.cluster.farm.mode,
      mapVersion: this.cluster.mapVersion,
      now: Date.now(),
      members: members.map((m) => ({
        nodeId: m.nodeId,
        httpUrl: m.httpUrl,
        herd: m.herd,
        state: this.cluster.stateOf(m.nodeId),
        connected: m.nodeId === this.nodeId || this.cluster.linkTo(m.nodeId) !== undefined,
      })),
      route: (flock) => this.cluster.route(flock),
      isLive: (nodeId) => this.cluster.isLive(nodeId),
      stats,
    });
  }

  /** This node's metrics in the Prometheus text format. */
  async metrics(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.#metrics.contentType, text: await this.#metrics.render() };
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
    const closing = this.#http?.close();
    await this.#scheduler.stop();
    // Every job has answered; a client that keeps its connection busy would hold close() forever.
    const force = setTimeout(() => this.#http?.server.closeAllConnections(), HTTP_CLOSE_GRACE_MS);
    await closing;
    clearTimeout(force);
    // Hand the led flocks to their next herders now, rather than have them wait to see this node dead.
    if (this.#leadership.ledFlocks().length > 0 && this.cluster.members().length > 1) {
      this.cluster.setStopping();
      const bound = Math.min(this.config.bleetTimeoutMs, 2000);
      await this.cluster.flushMembers(bound);
      await withDeadline(this.#leadership.handOverAll(), bound);
    }
    await this.#leadership.stop();
    await this.cluster.stop();
    await this.#pool.close();
    await this.#store.close();
    this.#metrics.close();
    this.logger.info({ nodeId: this.nodeId }, 'Grex node stopped');
  }
}

/** How long a stopping node lets answered clients close their connections before it closes them. */
const HTTP_CLOSE_GRACE_MS = 1000;

/** Waits for `work`, but no longer than `ms` (a timer that keeps the process alive meanwhile). */
async function withDeadline(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function splitHostPort(address: string): { host: string; port: number } {
  const separator = address.lastIndexOf(':');
  return { host: address.slice(0, separator).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(separator + 1)) };
}

function bleetTransport(address: string, maxFrameBytes: number, tls: TlsMaterial | null, authenticated: boolean): Transport {
  const { host, port } = splitHostPort(address);
  // Until a peer proved it knows the secret, only its small handshake frames are read.
  const preAuth = authenticated ? { frames: HANDSHAKE_FRAMES, maxFrameBytes: MAX_AUTH_FRAME_BYTES } : undefined;
  return new WsTransport({ host, port, maxFrameBytes, ...(tls === null ? {} : { tls }), ...(preAuth === undefined ? {} : { preAuth }) });
}

/** Starts a Grex node in this process. */
export function startNode(options: StartNodeOptions = {}): Promise<GrexNode> {
  return GrexNode.start(options);
}

export { GrexError };
