/** HTTP helpers for tests against a node listening on 127.0.0.1 (port chosen at run time). */
import type { TestContext } from 'node:test';
import type { GrexNode, StartNodeOptions } from '../../src/grex-node.js';
import { startTestNode } from './nodes.js';
import { tempDir } from './temp-dir.js';

/** A node with a real listener on 127.0.0.1:0 and a filesystem store in a temp folder. */
export async function startHttpNode(t: Pick<TestContext, 'after'>, options: StartNodeOptions = {}): Promise<GrexNode> {
  const data = await tempDir(t);
  return startTestNode(t, { http: '127.0.0.1:0', store: 'fs', data, ...options });
}

export interface JsonAnswer {
  status: number;
  headers: Headers;
  body: any;
}

/** A request whose answer is JSON (Grex answers and errors). */
export async function requestJson(url: string, init: RequestInit = {}): Promise<JsonAnswer> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new Error(`not JSON (${response.status}): ${text.slice(0, 200)}`);
  }
  return { status: response.status, headers: response.headers, body };
}

export function postJob(base: string, bucketKey: string, jobName: string, data?: unknown, init: RequestInit = {}): Promise<JsonAnswer> {
  return requestJson(`${base}/buckets/${encodeURIComponent(bucketKey)}/jobs/${encodeURIComponent(jobName)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(data ?? null),
    ...init,
  });
}
