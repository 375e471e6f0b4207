#!/usr/bin/env node
/**
 * The `grex` command.
 *
 *   grex start [options]                                 run a node until SIGTERM/SIGINT
 *   grex submit <bucketKey> <jobName> [json] [--url URL] run a job, print { result, activeNode }
 *   grex status [--url URL]                              print a node's health and readiness
 *   grex leave | remove | farm                           rebalancing (farm-commands.ts)
 *
 * submit and status take --admin-token (or GREX_ADMIN_TOKEN), sent to admin
 * endpoints, and --tls-ca (or GREX_TLS_CA) to trust a cluster's own CA.
 */
import { readFileSync } from 'node:fs';
import closeWithGrace from 'close-with-grace';
import { GrexClient } from '../client/grex-client.js';
import { loadConfig } from '../config/load-config.js';
import { maskSecrets } from '../config/options.js';
import { fromWire, GrexError } from '../errors.js';
import { startNode } from '../grex-node.js';
import { createLogger } from '../log.js';
import { parseClientArgs, parseStartArgs, startUsage } from './args.js';
import { cluster } from './cluster.js';
import { farm, leave, remove } from './farm-commands.js';
import { callNode, readCa } from './node-call.js';

const USAGE = `Usage:
  grex start [options]                                  start a node (grex start --help lists options)
  grex cluster [--nodes 3] [options]                    start a local cluster of nodes on 127.0.0.1 (ports 8081.., 9081..)
  grex submit <bucketKey> <jobName> [json] [--url URL]  run a job and print { result, activeNode }
  grex status [--url URL]                               print a node's health and readiness
  grex leave [--url URL]                                drain a node: hand over its flocks, then it stops
  grex remove <nodeId> [--url URL]                      remove a dead member for good (its flocks are re-copied)
  grex farm <nodeId>=<farm>... [--url URL]              set a manual farm plan, e.g. a=0-511 b=512-1023
  grex --version

--url defaults to http://127.0.0.1:8080. submit, status, leave, remove and farm also take
--admin-token <token> (or GREX_ADMIN_TOKEN; sent as Authorization: Bearer to
admin endpoints such as GET /cluster with protectReads) and --tls-ca <ca.pem>
(or GREX_TLS_CA; the CA to trust for https nodes).`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function start(argv: string[]): Promise<void> {
  const args = parseStartArgs(argv);
  if (args.help) {
    console.log(startUsage());
    return;
  }
  const config = await loadConfig({ file: args.configFile, env: process.env, flags: args.flags });
  if (args.printConfig) {
    console.log(JSON.stringify(maskSecrets(config), null, 2));
    return;
  }
  const logger = createLogger({ level: config.logLevel });
  const node = await startNode({ ...config, logger });
  // Jobs may take up to jobTimeoutMs to finish; past that (or on a second signal) exit hard.
  closeWithGrace({ delay: config.jobTimeoutMs + 10_000, logger: { error: (m: string) => logger.error(m) } }, async ({ signal, err }) => {
    if (err !== undefined) logger.error({ err }, 'stopping after an unexpected error');
    else logger.info({ signal }, `${signal ?? 'stop'} received`);
    await node.stop();
  });
}

async function submit(argv: string[]): Promise<void> {
  const args = parseClientArgs(argv);
  const [bucketKey, jobName, json, ...rest] = args.positionals;
  if (args.help || bucketKey === undefined || jobName === undefined || rest.length > 0) {
    console.log(USAGE);
    if (!args.help) process.exitCode = 2;
    return;
  }
  let data: unknown;
  if (json !== undefined) {
    try {
      data = JSON.parse(json);
    } catch (err) {
      throw new GrexError('GREX_ERR_BODY_MALFORMED', `job data is not valid JSON: ${(err as Error).message}`);
    }
  }
  const client = new GrexClient(args.url, { ...(args.tlsCa === undefined ? {} : { ca: readCa(args.tlsCa) }) });
  try {
    const answer = await client.submit(bucketKey, jobName, data);
    console.log(JSON.stringify(answer, null, 2));
  } finally {
    client.close();
  }
}

async function status(argv: string[]): Promise<void> {
  const args = parseClientArgs(argv);
  const health = (await callNode(args, 'GET', '/health')).body as Record<string, unknown>;
  const ready = (await callNode(args, 'GET', '/ready')).status === 200;
  const view = await callNode(args, 'GET', '/cluster');
  if (view.status === 401) throw fromWire((view.body as { error: object }).error);
  console.log(JSON.stringify({ ...health, ready, cluster: view.body }, null, 2));
  if (!ready) process.exitCode = 1;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return start(rest);
    case 'cluster':
      return cluster(rest);
    case 'submit':
      return submit(rest);
    case 'status':
      return status(rest);
    case 'leave':
      return leave(rest);
    case 'remove':
      return remove(rest);
    case 'farm':
      return farm(rest);
    case '--version':
    case '-v':
      console.log(version());
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      console.error(`grex: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const error = err instanceof GrexError ? err : new GrexError('GREX_ERR_INTERNAL', (err as Error)?.message ?? String(err));
  console.error(`grex: ${error.code}: ${error.message}`);
  process.exitCode = 1;
});
