/**
 * What a node needs before it exists (GrexNode.start): the resolved config,
 * a logger, the cluster secret and TLS material, the opened store (its log
 * replayed), the node's id, the jobs and their started threads, the bleet
 * transport, the members remembered from an earlier run. If a part fails,
 * the store and the threads opened so far are closed again.
 */
import { join, resolve } from 'node:path';
import { AuthenticatedTransport, loadMembers, memberSaver, parseFarm, WsTransport, type Transport } from '../cluster/index.js';
import { HANDSHAKE_FRAMES, MAX_AUTH_FRAME_BYTES } from '../cluster/bleet-auth.js';
import { loadConfig, resolveConfig } from '../config/load-config.js';
import { GrexError } from '../errors.js';
import type { StartNodeOptions } from '../grex-node.js';
import { flockOf } from '../keys.js';
import { createLogger } from '../log.js';
import { generateNodeId, loadNodeId } from '../node-identity.js';
import { readClusterSecret, securityWarnings } from '../node-security.js';
import { readTls, type TlsMaterial } from '../tls.js';
import { FlockClock } from '../scheduler/index.js';
import { DEFAULT_PENDING_BYTES_MAX, FsBackend, ItemStore, MemoryBackend, type ItemRecord } from '../store/index.js';
import { discoverJobs, JobPool } from '../workers/index.js';
import { applyHeapGrowth } from './heap-growth.js';
import { MIB, type NodeParts } from './node-core.js';

/**
 * Memory for committed writes not yet in item files: a quarter of the cache
 * budget, 8 to 64 MiB (64 MiB with the default 256 MiB cache). A node given
 * a small cache is meant to be small; its item files are then written
 * sooner and commits wait sooner when the disk falls behind.
 */
function pendingBytesFor(cacheMb: number): number {
  return Math.min(DEFAULT_PENDING_BYTES_MAX, Math.max(8 * MIB, Math.floor((cacheMb * MIB) / 4)));
}

/**
 * Gathers the parts of a node. `readHere` is how the job threads read items:
 * through the node (BucketWork.readHere), so damaged items are repaired.
 */
export async function openParts(
  options: StartNodeOptions,
  readHere: (bucketKey: string, itemKey: string) => Promise<ItemRecord | undefined>,
): Promise<NodeParts> {
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
  applyHeapGrowth(config.heapGrowthPercent);
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
  try {
    const persistent = config.store === 'fs';
    const nodeId = persistent ? await loadNodeId(dataDir, config.nodeId) : (config.nodeId ?? generateNodeId());
    const jobs = await discoverJobs(config.jobs);
    pool = await JobPool.start({
      threads: config.workers,
      jobs,
      cacheBytes: config.cacheMb * MIB,
      // Reads of the job threads go through the node, so damaged items are repaired (see BucketWork.readHere).
      store: {
        get: async (bucketKey, itemKey) => {
          const record = await readHere(bucketKey, itemKey);
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
    return {
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
      data: persistent ? dataDir : 'memory',
    };
  } catch (err) {
    await pool?.close().catch(() => {});
    await store.close().catch(() => {});
    throw err;
  }
}

export function splitHostPort(address: string): { host: string; port: number } {
  const separator = address.lastIndexOf(':');
  return { host: address.slice(0, separator).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(separator + 1)) };
}

function bleetTransport(address: string, maxFrameBytes: number, tls: TlsMaterial | null, authenticated: boolean): Transport {
  const { host, port } = splitHostPort(address);
  // Until a peer proved it knows the secret, only its small handshake frames are read.
  const preAuth = authenticated ? { frames: HANDSHAKE_FRAMES, maxFrameBytes: MAX_AUTH_FRAME_BYTES } : undefined;
  return new WsTransport({ host, port, maxFrameBytes, ...(tls === null ? {} : { tls }), ...(preAuth === undefined ? {} : { preAuth }) });
}
