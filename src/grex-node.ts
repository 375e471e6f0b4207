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
 *
 * GrexNode is the facade; its collaborators are in src/node/: the parts are
 * gathered (node-startup.ts) and wired (node-core.ts), work is routed to the
 * active node (active-router.ts) and done here (bucket-work.ts), peers' bleets
 * are served (bleet-server.ts), reports are assembled (node-status.ts) and
 * the node stops or drains (node-shutdown.ts).
 */
import { parseFarm, type ClusterNode, type Transport } from './cluster/index.js';
import type { ClusterOverview } from './cluster/cluster-overview.js';
import { itemCodec } from './codec.js';
import type { GrexConfig, GrexConfigInput } from './config/options.js';
import { GrexError } from './errors.js';
import { checkFarmPlan } from './cluster/farm-plan.js';
import { createHttpServer } from './http/server.js';
import type { ItemListing, NodeApi, RouteInfo } from './http/node-api.js';
import { assertBucketKey, assertItemKey, assertJobName, flockOf } from './keys.js';
import type { Logger } from './log.js';
import type { TlsMaterial } from './tls.js';
import { encodeJobValue, type ItemWrite, type JobRequest } from './scheduler/index.js';
import { decodeItemRecord } from './store/item-record.js';
import { formatVersion, parseVersion, type ItemRecord, type Version } from './store/index.js';
import type { CacheStats } from './workers/index.js';
import type { GrexJobs, JobDataArgs, JobName, JobResult, UntypedJobName } from './job.js';
import { ActiveRouter } from './node/active-router.js';
import { BleetServer } from './node/bleet-server.js';
import { BucketWork } from './node/bucket-work.js';
import { MIB, wireNode, type NodeCore, type NodeParts, type NodeState } from './node/node-core.js';
import { drainNode, stopNode } from './node/node-shutdown.js';
import { openParts, splitHostPort } from './node/node-startup.js';
import { clusterInfo, clusterOverview } from './node/node-status.js';

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

export class GrexNode implements NodeApi {
  readonly nodeId: string;
  readonly config: GrexConfig;
  readonly logger: Logger;
  readonly flocks: number;
  readonly cluster: ClusterNode;
  readonly #core: NodeCore;
  readonly #state: NodeState;
  readonly #tls: TlsMaterial | null;
  readonly #router: ActiveRouter;
  readonly #work: BucketWork;
  readonly #bleets: BleetServer;
  readonly #startedAt = Date.now();

  private constructor(parts: NodeParts) {
    this.nodeId = parts.nodeId;
    this.config = parts.config;
    this.logger = parts.logger;
    this.flocks = parts.config.flocks;
    this.#tls = parts.tls;
    this.#state = { url: parts.config.url ?? '', ready: false, http: null, stopping: null, leaving: null };
    this.#core = wireNode(parts, this.#state.url, (method, body, from) => this.#bleets.serve(method, body, from));
    this.cluster = this.#core.cluster;
    this.#work = new BucketWork(this.#core, this.#state);
    this.#router = new ActiveRouter(this.#core, this.#state);
    this.#bleets = new BleetServer(this.#core, { router: this.#router, work: this.#work, applyFarm: (farm) => this.#applyFarm(farm) });
  }

  /** Starts a node; rejects (and leaves nothing running) if any part fails to start. */
  static async start(options: StartNodeOptions = {}): Promise<GrexNode> {
    let node: GrexNode | undefined;
    const parts = await openParts(options, (bucketKey, itemKey) => node!.#work.readHere(bucketKey, itemKey));
    const { nodeId, config, logger, pool, store, jobs } = parts;
    try {
      node = new GrexNode(parts);
      await node.#core.leadership.loadHerding();
      await node.#listen();
      const bleetUrl = await node.cluster.start();
      node.#core.leadership.start(config.heartbeatMs);
      node.#state.ready = true;
      logger.info(
        { nodeId, url: node.url, bleetUrl: bleetUrl || undefined, jobs: Object.keys(jobs), workers: pool.threads, data: parts.data },
        `Grex node ${nodeId} ready at ${node.url}`,
      );
      return node;
    } catch (err) {
      if (node !== undefined) {
        node.#core.metrics.close();
        await node.#state.http?.close().catch(() => {});
        await node.cluster.stop().catch(() => {});
      }
      await pool.close().catch(() => {});
      await store.close().catch(() => {});
      throw err;
    }
  }

  async #listen(): Promise<void> {
    if (this.config.http === false) {
      this.#state.url ||= `grex://${this.nodeId}`;
      this.cluster.setHttpUrl(this.#state.url);
      return;
    }
    const { host, port } = splitHostPort(this.config.http);
    const app = createHttpServer(this, {
      bodyLimitBytes: Math.floor(this.config.bodyLimitMb * MIB),
      logger: this.logger,
      admin: { token: this.config.adminToken, protectReads: this.config.protectReads },
      ...(this.#tls === null ? {} : { https: { key: this.#tls.key, cert: this.#tls.cert } }),
      budget: this.#core.budget,
      onRefused: () => this.#core.metrics.overloaded('http'),
    });
    await app.listen({ host, port });
    this.#state.http = app;
    const address = app.server.address();
    if (this.#state.url === '' && address !== null && typeof address === 'object') {
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      this.#state.url = `${this.#tls === null ? 'http' : 'https'}://${shownHost}:${address.port}`;
    }
    this.cluster.setHttpUrl(this.#state.url);
  }

  /** The URL clients and peers reach this node at. */
  get url(): string {
    return this.#state.url;
  }

  /**
   * An app that mounts Grex's routes (the grexRoutes plugin, in
   * src/http/server.ts) reports where they are served once it listens: that
   * becomes this node's URL, unless the `url` option or the node's own
   * listener already fixed it.
   */
  routesServedAt(url: string): void {
    if (this.config.url !== undefined || this.config.http !== false || this.#state.stopping !== null || url === this.#state.url) return;
    this.#state.url = url;
    this.cluster.setHttpUrl(url);
    this.logger.info({ nodeId: this.nodeId, url }, `Grex node ${this.nodeId} serves HTTP at ${url}`);
  }

  /** Largest HTTP request body (the bodyLimitMb option), for apps that mount the routes. */
  get bodyLimitBytes(): number {
    return Math.floor(this.config.bodyLimitMb * MIB);
  }

  isReady(): boolean {
    return this.#state.ready && this.cluster.joined;
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
    return this.#router.onActiveNode(
      request.bucketKey,
      'job',
      () => this.#work.runJobHere(request),
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

  /** An item, from the active node; with `local`, this node's own replica (it must herd the flock). */
  async readItem(bucketKey: string, itemKey: string, options: { local?: boolean } = {}): Promise<ItemRecord | undefined> {
    assertBucketKey(bucketKey);
    assertItemKey(itemKey);
    if (options.local === true) {
      const flock = flockOf(bucketKey, this.flocks);
      if (!this.#core.leadership.mayPromise(flock)) {
        throw new GrexError('GREX_ERR_NOT_HERDER', `node ${this.nodeId} does not herd flock ${flock}`, { flock });
      }
      return this.#work.readHere(bucketKey, itemKey);
    }
    return this.#router.onActiveNode(
      bucketKey,
      'item.get',
      async () => {
        await this.#core.leadership.ensureLeading(flockOf(bucketKey, this.flocks));
        return this.#work.readHere(bucketKey, itemKey);
      },
      async (nodeId) => {
        const { record } = await this.cluster.request(nodeId, 'item.get', { bucketKey, itemKey });
        return record === null ? undefined : decodeItemRecord(record, `item ${itemKey} from ${nodeId}`, { bucketKey, itemKey });
      },
    );
  }

  listItems(bucketKey: string): Promise<ItemListing[]> {
    assertBucketKey(bucketKey);
    return this.#router.onActiveNode(
      bucketKey,
      'item.list',
      async () => {
        await this.#core.leadership.ensureLeading(flockOf(bucketKey, this.flocks));
        return this.#work.listHere(bucketKey);
      },
      async (nodeId) => (await this.cluster.request(nodeId, 'item.list', { bucketKey })).items,
    );
  }

  writeItem(write: ItemWrite): Promise<Version> {
    assertBucketKey(write.bucketKey);
    assertItemKey(write.itemKey);
    return this.#router.onActiveNode(
      write.bucketKey,
      'item.write',
      async () => {
        await this.#core.leadership.ensureLeading(flockOf(write.bucketKey, this.flocks));
        return this.#core.scheduler.writeItem(write);
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
    return clusterInfo(this.#core, this.#state);
  }

  // ---- rebalancing: leave, remove, farm plans ----

  /**
   * Drains this node: it stops herding (herd false), so its flocks get other
   * target herders; each flock is dropped once they all herd it. Resolves when
   * this node herds nothing; then it stops. Safe to call again (same promise).
   */
  leave(): Promise<void> {
    this.#state.leaving ??= drainNode(this.#core, this.#state, () => this.stop());
    return this.#state.leaving;
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
    return this.#core.leadership.describe(flock);
  }

  setBlockedPeers(nodeIds: string[]): string[] | null {
    if (!this.config.faultInjection) return null;
    this.logger.warn({ blocked: nodeIds }, 'fault injection: blocking peers');
    this.cluster.setBlocked(nodeIds);
    return this.cluster.blocked;
  }

  /** The flocks this node leads now, with the term and the herders in sync. */
  leadership(): { flock: number; term: number; synced: string[] }[] {
    const { leadership } = this.#core;
    return leadership.ledFlocks().map((flock) => ({ flock, term: leadership.termIfLeading(flock)!, synced: leadership.syncedHerders(flock) }));
  }

  /** The cluster at a glance: this node's view, with every reachable member's counters (GET /cluster/overview). */
  clusterOverview(): Promise<ClusterOverview> {
    return clusterOverview(this.#core);
  }

  /** This node's metrics in the Prometheus text format. */
  async metrics(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.#core.metrics.contentType, text: await this.#core.metrics.render() };
  }

  /** Cache counters of each job thread. */
  cacheStats(): Promise<CacheStats[]> {
    return this.#core.pool.stats();
  }

  /** Jobs running or waiting on this node. */
  get queuedJobs(): number {
    return this.#core.scheduler.queued;
  }

  /**
   * Stops gracefully: refuses new jobs, lets running and queued ones finish
   * (their answers are sent), closes the listener, the peers, the threads and
   * the store (in that order: node-shutdown.ts). Safe to call more than once.
   */
  stop(): Promise<void> {
    this.#state.stopping ??= stopNode(this.#core, this.#state);
    return this.#state.stopping;
  }
}

/** Starts a Grex node in this process. */
export function startNode(options: StartNodeOptions = {}): Promise<GrexNode> {
  return GrexNode.start(options);
}

export { GrexError };
