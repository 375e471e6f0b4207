/**
 * Rebalancing from the command line (each calls one node's HTTP API):
 *
 *   grex leave [--url URL]                      drain that node: hand over its flocks, then it stops
 *   grex remove <nodeId> [--url URL]            remove a dead member for good
 *   grex farm <nodeId>=<farm>... [--url URL]    set a manual farm plan, e.g. a=0-511 b=512-1023
 */
import { fromWire, GrexError } from '../errors.js';
import { parseClientArgs, type ClientArgs } from './args.js';
import { callNode } from './node-call.js';

/** An admin call; an error answer becomes its GrexError. */
async function call(args: ClientArgs, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const answer = await callNode(args, method, path, body);
  const parsed = (answer.body ?? {}) as { error?: { code?: unknown; message?: unknown; data?: unknown } } & Record<string, unknown>;
  if (answer.status >= 300 || parsed.error !== undefined) throw fromWire(parsed.error ?? { message: `HTTP ${answer.status}` });
  return parsed;
}

export async function leave(argv: string[]): Promise<void> {
  const args = parseClientArgs(argv);
  console.log(JSON.stringify(await call(args, 'POST', '/cluster/leave')));
  // Follow the drain until the node has stopped (it no longer answers).
  for (;;) {
    const view = await call(args, 'GET', '/cluster').catch((err: GrexError) => {
      if (err.code === 'GREX_ERR_NODE_UNREACHABLE') return null;
      throw err;
    });
    if (view === null) break;
    console.log(`still herding ${String(view.flocksHerding)} flock(s), leading ${String(view.flocksLeading)}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  console.log('left: every flock handed over, the node stopped');
}

export async function remove(argv: string[]): Promise<void> {
  const args = parseClientArgs(argv);
  const [nodeId, ...rest] = args.positionals;
  if (nodeId === undefined || rest.length > 0) throw new GrexError('GREX_ERR_CONFIG_INVALID', 'usage: grex remove <nodeId> [--url URL]');
  console.log(JSON.stringify(await call(args, 'POST', `/cluster/members/${encodeURIComponent(nodeId)}/remove`), null, 2));
}

export async function farm(argv: string[]): Promise<void> {
  const args = parseClientArgs(argv);
  if (args.positionals.length === 0) throw new GrexError('GREX_ERR_CONFIG_INVALID', 'usage: grex farm <nodeId>=<farm>... [--url URL], e.g. grex farm a=0-511 b=512-1023');
  const farms: Record<string, string> = {};
  for (const part of args.positionals) {
    const at = part.indexOf('=');
    if (at <= 0) throw new GrexError('GREX_ERR_CONFIG_INVALID', `"${part}" is not <nodeId>=<farm>`);
    farms[part.slice(0, at)] = part.slice(at + 1);
  }
  console.log(JSON.stringify(await call(args, 'PUT', '/cluster/farm', { farms }), null, 2));
}
