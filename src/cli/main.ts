#!/usr/bin/env node
/**
 * The `grex` command.
 *
 *   grex start [options]                                 run a node until SIGTERM/SIGINT
 *   grex submit <bucketKey> <jobName> [json] [--url URL] run a job, print { result, activeNode }
 *   grex status [--url URL]                              print a node's health and readiness
 *   grex leave | remove | farm                           rebalancing (farm-commands.ts)
 */
import { readFileSync } from 'node:fs';
import closeWithGrace from 'close-with-grace';
import { GrexClient } from '../client/grex-client.js';
import { loadConfig } from '../config/load-config.js';
import { GrexError } from '../errors.js';
import { startNode } from '../grex-node.js';
import { createLogger } from '../log.js';
import { parseClientArgs, parseStartArgs, startUsage } from './args.js';
import { cluster } from './cluster.js';
import { farm, leave, remove } from './farm-commands.js';

const USAGE = `Usage:
  grex start [options]                                  start a node (grex start --help lists options)
  grex cluster [--nodes 3] [options]                    start a local cluster of nodes on 127.0.0.1 (ports 8081.., 9081..)
  grex submit <bucketKey> <jobName> [json] [--url URL]  run a job and print { result, activeNode }
  grex status [--url URL]                               print a node's health and readiness
  grex leave [--url URL]                                drain a node: hand over its flocks, then it stops
  grex remove <nodeId> [--url URL]                      remove a dead member for good (its flocks are re-copied)
  grex farm <nodeId>=<farm>... [--url URL]              set a manual farm plan, e.g. a=0-511 b=512-1023
  grex --version

--url defaults to http://127.0.0.1:8080.`;

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
    console.log(JSON.stringify(config, null, 2));
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
  const answer = await new GrexClient(args.url).submit(bucketKey, jobName, data);
  console.log(JSON.stringify(answer, null, 2));
}

async function status(argv: string[]): Promise<void> {
  const args = parseClientArgs(argv);
  const base = args.url.replace(/\/+$/, '');
  const health: Record<string, unknown> = await fetch(`${base}/health`).then((r) => r.json() as Promise<Record<string, unknown>>, (err: Error) => {
    throw new GrexError('GREX_ERR_NODE_UNREACHABLE', `${base} is not reachable: ${(err.cause as Error | undefined)?.message ?? err.message}`);
  });
  const ready = await fetch(`${base}/ready`).then((r) => r.ok);
  const view = (await fetch(`${base}/cluster`).then((r) => r.json())) as Record<string, unknown>;
  console.log(JSON.stringify({ ...health, ready, cluster: view }, null, 2));
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
