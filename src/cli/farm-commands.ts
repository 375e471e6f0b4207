/**
 * Rebalancing from the command line (each calls one node's HTTP API):
 *
 *   grex leave [--url URL]                      drain that node: hand over its flocks, then it stops
 *   grex remove <nodeId> [--url URL]            remove a dead member for good
 *   grex farm <nodeId>=<farm>... [--url URL]    set a manual farm plan, e.g. a=0-511 b=512-1023
 */
import { GrexError, fromWire } from '../errors.js';
import { parseClientArgs } from './args.js';

async function call(method: string, url: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  }).catch((err: Error) => {
    throw new GrexError('GREX_ERR_NODE_UNREACHABLE', `${url} is not reachable: ${(err.cause as Error | undefined)?.message ?? err.message}`);
  });
  const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) throw fromWire(answer);
  return answer;
}

export async function leave(argv: string[]): Promise<void> {
  const args = parseClientArgs(argv);
  const base = args.url.replace(/\/+$/, '');
  console.log(JSON.stringify(await call('POST', `${base}/cluster/leave`)));
  // Follow the drain until the node has stopped (it no longer answers).
  for (;;) {
    const view = await fetch(`${base}/cluster`).then(
      (r) => r.json() as Promise<Record<string, unknown>>,
      () => null,
    );
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
  const base = args.url.replace(/\/+$/, '');
  console.log(JSON.stringify(await call('POST', `${base}/cluster/members/${encodeURIComponent(nodeId)}/remove`), null, 2));
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
  const base = args.url.replace(/\/+$/, '');
  console.log(JSON.stringify(await call('PUT', `${base}/cluster/farm`, { farms }), null, 2));
}
