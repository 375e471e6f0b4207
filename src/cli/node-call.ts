/**
 * How the CLI talks to a running node: one request with the admin token
 * (`--admin-token` or GREX_ADMIN_TOKEN) as `Authorization: Bearer`, over
 * https trusting `--tls-ca` (or GREX_TLS_CA) when given. Commands that call
 * admin endpoints use `callNode` and get the token sent for them.
 */
import { readFileSync } from 'node:fs';
import { httpAgents, httpRequest, type HttpAgents } from '../client/http-request.js';
import { GrexError } from '../errors.js';

export interface NodeCallOptions {
  /** Base URL of the node. */
  url: string;
  adminToken?: string | undefined;
  /** Path of a PEM CA file to trust for https. */
  tlsCa?: string | undefined;
}

export interface NodeAnswer {
  status: number;
  body: unknown;
}

const agentsByCa = new Map<string, HttpAgents>();

function agentsFor(tlsCa: string | undefined): HttpAgents {
  const key = tlsCa ?? '';
  let agents = agentsByCa.get(key);
  if (agents === undefined) {
    agents = httpAgents({ ca: readCa(tlsCa) });
    agentsByCa.set(key, agents);
  }
  return agents;
}

/** The PEM text of the CA file, for GrexClient. */
export function readCa(tlsCa: string | undefined): Buffer | undefined {
  if (tlsCa === undefined) return undefined;
  try {
    return readFileSync(tlsCa);
  } catch (err) {
    throw new GrexError('GREX_ERR_CONFIG_INVALID', `--tls-ca: cannot read ${tlsCa} (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
}

/** Sends one request to a node; a body is sent as JSON; the answer is parsed as JSON. */
export async function callNode(options: NodeCallOptions, method: string, path: string, body?: unknown): Promise<NodeAnswer> {
  const base = options.url.replace(/\/+$/, '');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.adminToken !== undefined) headers.authorization = `Bearer ${options.adminToken}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let answer;
  try {
    answer = await httpRequest(`${base}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      timeoutMs: 60_000,
      agents: agentsFor(options.tlsCa),
    });
  } catch (err) {
    throw new GrexError('GREX_ERR_NODE_UNREACHABLE', `${base} is not reachable: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = answer.text === '' ? undefined : JSON.parse(answer.text);
  } catch {
    throw new GrexError('GREX_ERR_INTERNAL', `unexpected answer from ${base}${path} (${answer.status}): ${answer.text.slice(0, 200)}`);
  }
  return { status: answer.status, body: parsed };
}
