/**
 * Every option of a Grex node, declared once: its schema, default, command
 * line flag, environment variable and description. The config file, the
 * environment, the flags and `startNode()` are all validated against this
 * one table, and docs/configuration.md documents it (a test keeps them in
 * sync). Values from the environment and flags arrive as strings and are
 * converted here.
 */
import { z } from 'zod';
import { DEFAULT_FLOCKS, isValidFlockCount } from '../keys.js';
import { defaultJobThreads } from '../workers/default-threads.js';

const number = (schema: z.ZodNumber) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v), schema);

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:/]+):(\d{1,5})$/;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

interface OptionSpec<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** Default, or undefined for options that have none. */
  default: () => z.output<S> | undefined;
  flag: string;
  env: string;
  description: string;
  /** Its value is never shown (`--print-config` masks it). */
  secret?: boolean;
}

function option<S extends z.ZodType>(spec: OptionSpec<S>): OptionSpec<S> {
  return spec;
}

export const OPTIONS = {
  http: option({
    schema: z.union([
      z.literal(false),
      z.string().regex(HOST_PORT, 'expected host:port (port 0 picks a free port)').refine((v) => Number(v.split(':').pop()) <= 65535, 'port must be at most 65535'),
    ]),
    default: () => '127.0.0.1:8080',
    flag: 'http',
    env: 'GREX_HTTP',
    description: 'HTTP listen address `host:port`; port 0 picks a free port (the real address is logged). `false` (in-process only): no listener.',
  }),
  url: option({
    schema: z.url({ protocol: /^https?$/ }).optional(),
    default: () => undefined,
    flag: 'url',
    env: 'GREX_URL',
    description: 'The URL clients and peers reach this node at (`activeNode` in answers). Default: `http://<http address>`.',
  }),
  nodeId: option({
    schema: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected 1–64 of [A-Za-z0-9_.-]').optional(),
    default: () => undefined,
    flag: 'node-id',
    env: 'GREX_NODE_ID',
    description: 'Stable id of this node. Default: generated once and kept in the data folder.',
  }),
  data: option({
    schema: z.string().min(1),
    default: () => './grex-data',
    flag: 'data',
    env: 'GREX_DATA',
    description: 'Data folder (filesystem store).',
  }),
  store: option({
    schema: z.enum(['fs', 'memory']),
    default: () => 'fs' as const,
    flag: 'store',
    env: 'GREX_STORE',
    description: '`fs`: items in files under the data folder. `memory`: in process memory, lost at exit (tests).',
  }),
  fsync: option({
    schema: z.enum(['always', 'never']),
    default: () => 'always' as const,
    flag: 'fsync',
    env: 'GREX_FSYNC',
    description: '`always`: a write is acknowledged only after it is fsynced. `never`: leave flushing to the OS (a power loss can lose acknowledged writes).',
  }),
  coalesceMs: option({
    schema: number(z.number().int().min(0).max(3_600_000)),
    default: () => 30_000,
    flag: 'coalesce-ms',
    env: 'GREX_COALESCE_MS',
    description:
      'How long a changed item may wait before it is written to its item file (it is durable in the write-ahead log before): the writes of a hot item in that time cost one file write. 0: write at once. Shorter writes more item files (5000 was the default until 2026-11-27: about half the throughput on three nodes); longer does not lengthen recovery. A quarter of the pending-write memory (a quarter of `cacheMb`, 8 to 64 MiB) in use also writes at once.',
  }),
  jobs: option({
    schema: z.string().min(1),
    default: () => './jobs',
    flag: 'jobs',
    env: 'GREX_JOBS',
    description: 'Folder of job modules (`<name>.ts` or `.js`).',
  }),
  workers: option({
    schema: number(z.number().int().min(1).max(256)),
    default: () => defaultJobThreads(),
    flag: 'workers',
    env: 'GREX_WORKERS',
    description: 'Job worker threads. Default: the available cores less one (the main thread needs one), at least 1.',
  }),
  cacheMb: option({
    schema: number(z.number().min(0).max(1 << 20)),
    default: () => 256,
    flag: 'cache-mb',
    env: 'GREX_CACHE_MB',
    description: 'Budget of the decoded-object cache of the whole node, in MiB (split between worker threads; sizes are estimated at 5× the encoded bytes). 0: no cache, every job reads and decodes its items from the store.',
  }),
  heapGrowthPercent: option({
    schema: number(z.number().int().min(10).max(1000)).optional(),
    default: () => undefined,
    flag: 'heap-growth-percent',
    env: 'GREX_HEAP_GROWTH_PERCENT',
    description: 'How far a V8 heap may grow past what was live after its last full collection, in percent, before the next one (garbage buffers count). Lower keeps the resident memory of a busy node lower at some CPU; higher saves CPU where large items are written often. Default: V8\'s own (up to 300% on a machine with several GiB). Sets a V8 flag of the whole process.',
  }),
  flocks: option({
    schema: number(z.number().int().refine(isValidFlockCount, 'expected a power of two from 1 to 1048576')),
    default: () => DEFAULT_FLOCKS,
    flag: 'flocks',
    env: 'GREX_FLOCKS',
    description: 'Number of flocks; a power of two, fixed when a cluster is created.',
  }),
  jobTimeoutMs: option({
    schema: number(z.number().int().min(1).max(24 * 3600 * 1000)),
    default: () => 30_000,
    flag: 'job-timeout-ms',
    env: 'GREX_JOB_TIMEOUT_MS',
    description: 'A job running longer fails with GREX_ERR_JOB_TIMEOUT and its thread is replaced.',
  }),
  maxQueuedJobs: option({
    schema: number(z.number().int().min(1)),
    default: () => 10_000,
    flag: 'max-queued-jobs',
    env: 'GREX_MAX_QUEUED_JOBS',
    description: 'Jobs running or waiting on this node; beyond it, GREX_ERR_OVERLOADED (503).',
  }),
  maxQueuedPerBucket: option({
    schema: number(z.number().int().min(0)),
    default: () => 1_000,
    flag: 'max-queued-per-bucket',
    env: 'GREX_MAX_QUEUED_PER_BUCKET',
    description: 'Jobs waiting behind the running job of one bucket; beyond it, GREX_ERR_OVERLOADED (503).',
  }),
  bodyLimitMb: option({
    schema: number(z.number().positive().max(1024)),
    default: () => 8,
    flag: 'body-limit-mb',
    env: 'GREX_BODY_LIMIT_MB',
    description: 'Largest HTTP request body, in MiB; larger gets GREX_ERR_BODY_TOO_LARGE (413).',
  }),
  maxHttpRequests: option({
    schema: number(z.number().int().min(1).max(1_000_000)),
    default: () => 4096,
    flag: 'max-http-requests',
    env: 'GREX_MAX_HTTP_REQUESTS',
    description: 'HTTP requests served at once (forwarded ones included); beyond it, GREX_ERR_OVERLOADED (503) before the body is read. Health, readiness, metrics and the dashboard are never refused.',
  }),
  maxHttpBodyMb: option({
    schema: number(z.number().positive().max(1 << 20)),
    default: () => 128,
    flag: 'max-http-body-mb',
    env: 'GREX_MAX_HTTP_BODY_MB',
    description: 'Request body bytes held by the requests served at once (by their content-length), in MiB; beyond it, GREX_ERR_OVERLOADED (503) before the body is read.',
  }),
  itemLimitMb: option({
    schema: number(z.number().positive().max(1024)),
    default: () => 16,
    flag: 'item-limit-mb',
    env: 'GREX_ITEM_LIMIT_MB',
    description: 'Largest stored item, in MiB; a larger one fails its job or write with GREX_ERR_ITEM_TOO_LARGE (413).',
  }),
  bleet: option({
    schema: z.union([
      z.literal(false),
      z.string().regex(HOST_PORT, 'expected host:port (port 0 picks a free port)').refine((v) => Number(v.split(':').pop()) <= 65535, 'port must be at most 65535'),
    ]),
    default: () => false as const,
    flag: 'bleet',
    env: 'GREX_BLEET',
    description: 'Address `host:port` this node listens on for bleets from its peers (port 0 picks one). `false`: no peers, a cluster of one.',
  }),
  peers: option({
    schema: z.preprocess(
      (v) => (typeof v === 'string' ? v.split(',').map((p) => p.trim()).filter((p) => p !== '') : v),
      z.array(z.string().regex(HOST_PORT, 'expected a list of host:port bleet addresses')).max(1000),
    ),
    default: () => [] as string[],
    flag: 'peers',
    env: 'GREX_PEERS',
    description: 'Bleet addresses (`host:port,...`) of nodes to join through; one reachable peer is enough, the node learns every member from it.',
  }),
  replicas: option({
    schema: number(z.number().int().min(1).max(64)),
    default: () => 3,
    flag: 'replicas',
    env: 'GREX_REPLICAS',
    description: 'Herders per flock in an auto farm (at most the number of herding members).',
  }),
  writeQuorum: option({
    schema: z.preprocess(
      (v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v),
      z.union([z.literal('majority'), z.literal('all'), z.number().int().min(1).max(64)], { message: 'expected majority, all or a number of herders' }),
    ),
    default: () => 'majority' as const,
    flag: 'write-quorum',
    env: 'GREX_WRITE_QUORUM',
    description: 'Herders (this node included) that must hold a change before it is acknowledged: `majority`, `all` or a number.',
  }),
  herd: option({
    schema: z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean()),
    default: () => true,
    flag: 'herd',
    env: 'GREX_HERD',
    description: '`false`: this node routes and submits but herds no flock and stores nothing of the cluster.',
  }),
  farm: option({
    schema: z.string().regex(/^(auto|\s*\d+(\s*-\s*\d+)?\s*(,\s*\d+(\s*-\s*\d+)?\s*)*)$/, 'expected auto or flocks like 0-511,700'),
    default: () => 'auto',
    flag: 'farm',
    env: 'GREX_FARM',
    description: '`auto`: flocks are assigned by rendezvous hashing. Or the flocks this node herds, `0-511,700` (a manual farm, as in the original Grex).',
  }),
  heartbeatMs: option({
    schema: number(z.number().int().min(10).max(60_000)),
    default: () => 250,
    flag: 'heartbeat-ms',
    env: 'GREX_HEARTBEAT_MS',
    description: 'Interval of heartbeats to every peer.',
  }),
  suspectAfterMs: option({
    schema: number(z.number().int().min(10).max(600_000)),
    default: () => 1000,
    flag: 'suspect-after-ms',
    env: 'GREX_SUSPECT_AFTER_MS',
    description: 'A peer not heard from for this long is suspect (still trusted).',
  }),
  deadAfterMs: option({
    schema: number(z.number().int().min(10).max(600_000)),
    default: () => 2000,
    flag: 'dead-after-ms',
    env: 'GREX_DEAD_AFTER_MS',
    description: 'A peer not heard from for this long is dead: the next live herder of its flocks becomes their active node.',
  }),
  bleetTimeoutMs: option({
    schema: number(z.number().int().min(10).max(3_600_000)),
    default: () => 10_000,
    flag: 'bleet-timeout-ms',
    env: 'GREX_BLEET_TIMEOUT_MS',
    description: 'Deadline of a bleet request (forwarded jobs get jobTimeoutMs on top).',
  }),
  bleetMaxFrameMb: option({
    schema: number(z.number().positive().max(1024)),
    default: () => 64,
    flag: 'bleet-max-frame-mb',
    env: 'GREX_BLEET_MAX_FRAME_MB',
    description: 'Largest bleet (a frame and the attachments that follow it), in MiB; a peer sending a larger one is disconnected.',
  }),
  antiEntropyMs: option({
    schema: number(z.number().int().min(10).max(24 * 3600 * 1000)),
    default: () => 60_000,
    flag: 'anti-entropy-ms',
    env: 'GREX_ANTI_ENTROPY_MS',
    description: 'Pause between anti-entropy passes: the active node compares verified digests of each flock it leads with its herders and syncs those that differ.',
  }),
  antiEntropyMbps: option({
    schema: number(z.number().positive().max(100_000)),
    default: () => 8,
    flag: 'anti-entropy-mbps',
    env: 'GREX_ANTI_ENTROPY_MBPS',
    description: 'Read rate limit of anti-entropy verification, in MiB/s, so it never starves jobs.',
  }),
  transferMbps: option({
    schema: number(z.number().positive().max(100_000)),
    default: () => 64,
    flag: 'transfer-mbps',
    env: 'GREX_TRANSFER_MBPS',
    description: 'Rate limit of copying flocks to this node (a flock it gained, or catching up), in MiB/s, so transfers never starve jobs.',
  }),
  secret: option({
    schema: z.string().min(16, 'use at least 16 characters (for example `openssl rand -hex 32`)').max(1024).optional(),
    default: () => undefined,
    flag: 'secret',
    env: 'GREX_SECRET',
    description: 'Cluster secret: every bleet connection must prove it knows it (HMAC challenge–response; the secret never travels) before anything else is read. Every node of a cluster needs the same one.',
    secret: true,
  }),
  secretFile: option({
    schema: z.string().min(1).optional(),
    default: () => undefined,
    flag: 'secret-file',
    env: 'GREX_SECRET_FILE',
    description: 'File holding the cluster secret (instead of `secret`; surrounding whitespace is ignored).',
  }),
  tlsKey: option({
    schema: z.string().min(1).optional(),
    default: () => undefined,
    flag: 'tls-key',
    env: 'GREX_TLS_KEY',
    description: 'PEM private key file; with `tlsCert`, HTTP is served as https and bleets as wss.',
  }),
  tlsCert: option({
    schema: z.string().min(1).optional(),
    default: () => undefined,
    flag: 'tls-cert',
    env: 'GREX_TLS_CERT',
    description: 'PEM certificate (chain) file of this node, for HTTPS and WSS.',
  }),
  tlsCa: option({
    schema: z.string().min(1).optional(),
    default: () => undefined,
    flag: 'tls-ca',
    env: 'GREX_TLS_CA',
    description: 'PEM CA file that signs the peers\' certificates: dialled wss:// peers are verified against it. Default: the system CAs.',
  }),
  adminToken: option({
    schema: z.string().min(16, 'use at least 16 characters (for example `openssl rand -hex 32`)').max(1024).optional(),
    default: () => undefined,
    flag: 'admin-token',
    env: 'GREX_ADMIN_TOKEN',
    description: 'Admin endpoints that change the cluster require `Authorization: Bearer <token>` (401 GREX_ERR_UNAUTHORIZED otherwise).',
    secret: true,
  }),
  protectReads: option({
    schema: z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean()),
    default: () => false,
    flag: 'protect-reads',
    env: 'GREX_PROTECT_READS',
    description: '`true`: the admin token is also required to read the cluster views (GET /cluster, /cluster/flocks/:flock, /metrics).',
  }),
  faultInjection: option({
    schema: z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean()),
    default: () => false,
    flag: 'fault-injection',
    env: 'GREX_FAULT_INJECTION',
    description: 'Tests only: enables PUT /debug/faults, which cuts this node off from chosen peers (a partition). Never in production.',
  }),
  logLevel: option({
    schema: z.enum(LOG_LEVELS),
    default: () => 'info' as const,
    flag: 'log-level',
    env: 'GREX_LOG_LEVEL',
    description: 'pino log level.',
  }),
} as const;

export type OptionName = keyof typeof OPTIONS;

/** A node's complete, validated configuration. */
export type GrexConfig = { -readonly [K in OptionName]: z.output<(typeof OPTIONS)[K]['schema']> };

/** What a caller may pass: any subset of the options. */
export type GrexConfigInput = Partial<GrexConfig>;

export const OPTION_NAMES = Object.keys(OPTIONS) as OptionName[];

/** Shown instead of the value of a secret option. */
export const MASKED = '********';

/** The configuration as it may be shown: values of secret options replaced by MASKED. */
export function maskSecrets(config: GrexConfigInput): Record<string, unknown> {
  const shown: Record<string, unknown> = { ...config };
  for (const name of OPTION_NAMES) {
    if ((OPTIONS[name] as OptionSpec).secret === true && shown[name] !== undefined) shown[name] = MASKED;
  }
  return shown;
}

export function defaultConfig(): GrexConfig {
  const config: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) {
    const value = OPTIONS[name].default();
    if (value !== undefined) config[name] = value;
  }
  return config as GrexConfig;
}
