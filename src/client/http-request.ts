/**
 * One HTTP(S) request with node:http, for GrexClient and the CLI. Unlike
 * global fetch it takes a CA to trust (a cluster with its own certificate
 * authority) without touching the process-wide trust store, and it keeps
 * connections alive per client through the agents it is given.
 */
import { Agent as HttpAgent, request as httpRequestRaw, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequestRaw } from 'node:https';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface HttpAgents {
  http: HttpAgent;
  https: HttpsAgent;
}

/** Keep-alive agents; with `ca` (PEM), https trusts that CA instead of the system CAs. */
export function httpAgents(options: { ca?: string | Buffer | undefined } = {}): HttpAgents {
  return {
    http: new HttpAgent({ keepAlive: true }),
    https: new HttpsAgent({ keepAlive: true, ...(options.ca === undefined ? {} : { ca: options.ca }) }),
  };
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Whole request, answer included. */
  timeoutMs?: number;
  agents?: HttpAgents;
  /** Largest answer kept, in bytes (default 64 MiB). */
  maxAnswerBytes?: number;
}

/**
 * Sends a request and reads the whole answer. Rejects with the socket's
 * error (its `code`, such as ECONNREFUSED, tells a connection that never
 * opened), or with an error of code ETIMEDOUT past the deadline.
 */
export function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpAnswer> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  if (!secure && target.protocol !== 'http:') return Promise.reject(new TypeError(`not an http(s) URL: ${url}`));
  const send = secure ? httpsRequestRaw : httpRequestRaw;
  const agent = options.agents === undefined ? undefined : secure ? options.agents.https : options.agents.http;
  const maxBytes = options.maxAnswerBytes ?? 64 * 1024 * 1024;
  const headers = { ...options.headers };
  if (options.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
    headers['content-length'] = String(typeof options.body === 'string' ? Buffer.byteLength(options.body) : options.body.byteLength);
  }
  return new Promise((resolve, reject) => {
    const request = send(target, { method: options.method ?? 'GET', headers, ...(agent === undefined ? {} : { agent }) }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.byteLength;
        if (size > maxBytes) return request.destroy(new Error(`answer of ${url} is larger than ${maxBytes} bytes`));
        chunks.push(chunk);
      });
      response.on('error', reject);
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => request.destroy(Object.assign(new Error(`no answer from ${target.origin} within ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' })), options.timeoutMs);
    request.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    request.end(options.body);
  });
}

/** The value of a header of an answer (the first one if repeated). */
export function header(answer: HttpAnswer, name: string): string | undefined {
  const value = answer.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
