/**
 * A Grex node: the store, the job threads, the scheduler and (unless turned
 * off) the HTTP listener, started together and stopped in order.
 *
 *   const node = await startNode({ jobs: './jobs', data: './grex-data' });
 *   const { result, activeNode } = await node.submit('johndoe', 'counter', { by: 2 });
 *   await node.stop();
 */
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { itemCodec } from './codec.js';
import { loadConfig, resolveConfig } from './config/load-config.js';
import type { GrexConfig, GrexConfigInput } from './config/options.js';
import { GrexError } from './errors.js';
import { createHttpServer } from './http/server.js';
import type { NodeApi, RouteInfo } from './http/node-api.js';
import { createLogger, type Logger } from './log.js';
import { generateNodeId, loadNodeId } from './node-identity.js';
import { encodeJobValue, FlockClock, Scheduler, storeReader, type ItemWrite, type JobRequest } from './scheduler/index.js';
import { FsBackend, ItemStore, MemoryBackend, type ItemHeader, type ItemRecord, type Version } from './store/index.js';
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
}

const MIB = 1024 * 1024;

export class GrexNode implements NodeApi {
  readonly nodeId: string;
  readonly config: GrexConfig;
  readonly logger: Logger;
  readonly flocks: number;
  #url: string;
  readonly #store: ItemStore;
  readonly #pool: JobPool;
  readonly #scheduler: Scheduler;
  #http: FastifyInstance | null = null;
  #ready = false;
  #stopping: Promise<void> | null = null;
  readonly #startedAt = Date.now();

  private constructor(parts: { nodeId: string; config: GrexConfig; logger: Logger; store: ItemStore; pool: JobPool; scheduler: Scheduler }) {
    this.nodeId = parts.nodeId;
    this.config = parts.config;
    this.logger = parts.logger;
    this.flocks = parts.config.flocks;
    this.#store = parts.store;
    this.#pool = parts.pool;
    this.#scheduler = parts.scheduler;
    this.#url = parts.config.url ?? '';
  }

  /** Starts a node; rejects (and leaves nothing running) if any part fails to start. */
  static async start(options: StartNodeOptions = {}): Promise<GrexNode> {
    const { logger: givenLogger, fromEnv = false, ...input } = options;
    const config = fromEnv ? await loadConfig({ env: process.env, options: input }) : resolveConfig(input);
    const logger = givenLogger ?? createLogger({ level: config.logLevel });
    const dataDir = resolve(config.data);
    const store =
      config.store === 'fs'
        ? new ItemStore(new FsBackend({ dir: dataDir, fsync: config.fsync }), {
            wal: { dir: join(dataDir, 'wal'), fsync: config.fsync },
            onError: (err) => logger.error({ err }, 'store background work failed; retrying'),
          })
        : new ItemStore(new MemoryBackend());
    const opened = await store.open();
    if (opened.replayedCommits > 0) logger.info(opened, 'replayed the write-ahead log left by an unclean stop');
    let pool: JobPool | undefined;
    try {
      const nodeId = config.store === 'fs' ? await loadNodeId(dataDir, config.nodeId) : (config.nodeId ?? generateNodeId());
      const jobs = await discoverJobs(config.jobs);
      pool = await JobPool.start({
        threads: config.workers,
        jobs,
        cacheBytes: config.cacheMb * MIB,
        store: storeReader(store, config.flocks),
        onError: (err) => logger.error({ err }, 'job thread error'),
      });
      const scheduler = new Scheduler({
        pool,
        store,
        clock: new FlockClock(store),
        flocks: config.flocks,
        jobs: new Set(Object.keys(jobs)),
        jobTimeoutMs: config.jobTimeoutMs,
        maxQueuedJobs: config.maxQueuedJobs,
        maxQueuedPerBucket: config.maxQueuedPerBucket,
        itemLimitBytes: Math.floor(config.itemLimitMb * MIB),
      });
      const node = new GrexNode({ nodeId, config, logger, store, pool, scheduler });
      await node.#listen();
      node.#ready = true;
      logger.info(
        { nodeId, url: node.url, jobs: Object.keys(jobs), workers: pool.threads, data: config.store === 'fs' ? dataDir : 'memory' },
        `Grex node ${nodeId} ready at ${node.url}`,
      );
      return node;
    } catch (err) {
      await pool?.close().catch(() => {});
      await store.close().catch(() => {});
      throw err;
    }
  }

  async #listen(): Promise<void> {
    if (this.config.http === false) {
      this.#url ||= `grex://${this.nodeId}`;
      return;
    }
    const separator = this.config.http.lastIndexOf(':');
    const host = this.config.http.slice(0, separator).replace(/^\[(.*)\]$/, '$1');
    const port = Number(this.config.http.slice(separator + 1));
    const app = createHttpServer(this, {
      bodyLimitBytes: Math.floor(this.config.bodyLimitMb * MIB),
      logger: this.logger,
    });
    await app.listen({ host, port });
    this.#http = app;
    const address = app.server.address();
    if (this.#url === '' && address !== null && typeof address === 'object') {
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      this.#url = `http://${shownHost}:${address.port}`;
    }
  }

  /** The URL clients and peers reach this node at. */
  get url(): string {
    return this.#url;
  }

  isReady(): boolean {
    return this.#ready;
  }

  uptimeSeconds(): number {
    return Math.round((Date.now() - this.#startedAt) / 1000);
  }

  /** Runs a job on a bucket and resolves with its result once its changes are durable. */
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

  async runJob(request: JobRequest): Promise<{ result: string | Uint8Array; activeNode: string; versions: Record<string, Version> }> {
    const outcome = await this.#scheduler.submit(request);
    return { result: outcome.result, activeNode: this.#url, versions: outcome.versions };
  }

  route(bucketKey: string): RouteInfo {
    const flock = this.#scheduler.flockOf(bucketKey);
    return { bucketKey, flock, flocks: this.flocks, activeNode: this.#url, herders: [this.#url] };
  }

  readItem(bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
    return this.#store.readLive(this.#scheduler.flockOf(bucketKey), bucketKey, itemKey);
  }

  listItems(bucketKey: string): Promise<ItemHeader[]> {
    return this.#store.listLive(this.#scheduler.flockOf(bucketKey), bucketKey);
  }

  writeItem(write: ItemWrite): Promise<Version> {
    return this.#scheduler.writeItem(write);
  }

  /** Cache counters of each job thread. */
  cacheStats(): Promise<CacheStats[]> {
    return this.#pool.stats();
  }

  /** Jobs running or waiting. */
  get queuedJobs(): number {
    return this.#scheduler.queued;
  }

  /**
   * Stops gracefully: refuses new jobs, lets running and queued ones finish
   * (their answers are sent), closes the listener, the threads and the store.
   * Safe to call more than once.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#ready = false;
    this.logger.info({ nodeId: this.nodeId, queued: this.#scheduler.queued }, 'Grex node stopping');
    await Promise.all([this.#scheduler.stop(), this.#http?.close()]);
    await this.#pool.close();
    await this.#store.close();
    this.logger.info({ nodeId: this.nodeId }, 'Grex node stopped');
  }
}

/** Starts a Grex node in this process. */
export function startNode(options: StartNodeOptions = {}): Promise<GrexNode> {
  return GrexNode.start(options);
}

export { GrexError };
