/**
 * GrexClient: submits jobs over HTTP and goes straight to each bucket's
 * active node once it knows it.
 *
 * Every job answer names the node that ran it (`activeNode`) and the
 * bucket's flock (`Grex-Flock: <flock>/<flocks>`). The client remembers the
 * active node per flock, so later jobs of any bucket in that flock need no
 * forwarding. If a remembered node cannot be reached, the client forgets it
 * and tries the seeds.
 */
import { fromWire, GrexError } from '../errors.js';
import { flockOf } from '../keys.js';
import type { GrexJobs, JobDataArgs, Jsonified, JobName, JobResult, UntypedJobName } from '../job.js';
import { header, httpAgents, httpRequest, type HttpAgents, type HttpAnswer } from './http-request.js';

export interface GrexClientOptions {
  /** Per-request timeout in milliseconds (default 60 000). */
  timeoutMs?: number;
  /** Most flocks to remember (default 65 536). */
  maxRemembered?: number;
  /** PEM CA certificate(s) to trust for https nodes instead of the system CAs (a cluster with its own CA). */
  ca?: string | Buffer;
}

export interface ClientSubmitResult<R> {
  result: R;
  activeNode: string;
}

const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

function neverConnected(err: unknown): boolean {
  const code = ((err as { cause?: { code?: string } })?.cause?.code) ?? (err as { code?: string })?.code;
  return code !== undefined && CONNECT_ERRORS.has(code);
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { message?: string } })?.cause?.message;
  return cause ?? (err as Error)?.message ?? String(err);
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

export class GrexClient {
  readonly seeds: readonly string[];
  readonly #timeoutMs: number;
  readonly #maxRemembered: number;
  readonly #activeByFlock = new Map<number, string>();
  readonly #agents: HttpAgents;
  #flocks: number | null = null;
  #nextSeed = 0;

  constructor(seeds: string | readonly string[], options: GrexClientOptions = {}) {
    const list = (typeof seeds === 'string' ? [seeds] : [...seeds]).map(trimSlash);
    if (list.length === 0) throw new TypeError('GrexClient needs at least one seed URL');
    for (const url of list) new URL(url); // throws on a malformed URL
    this.seeds = list;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#maxRemembered = options.maxRemembered ?? 65_536;
    this.#agents = httpAgents({ ca: options.ca });
  }

  /** Closes the client's idle keep-alive connections. */
  close(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  /** The node this client would send a bucket's job to now. */
  targetFor(bucketKey: string): string {
    if (this.#flocks !== null) {
      const known = this.#activeByFlock.get(flockOf(bucketKey, this.#flocks));
      if (known !== undefined) return known;
    }
    const seed = this.seeds[this.#nextSeed % this.seeds.length]!;
    this.#nextSeed++;
    return seed;
  }

  /**
   * Runs a job; resolves with its result and the URL of the node that ran it.
   * Data and result travel as JSON: for jobs named in `GrexJobs` (see
   * grex/job) the data is checked and the result typed as JSON gives it back
   * (a Date arrives as its ISO string).
   */
  submit<R = unknown, N extends string = string>(bucketKey: string, jobName: UntypedJobName<N>, data?: unknown): Promise<ClientSubmitResult<R>>;
  submit<N extends JobName>(bucketKey: string, jobName: N, ...data: JobDataArgs<GrexJobs[N]>): Promise<ClientSubmitResult<Jsonified<JobResult<GrexJobs[N]>>>>;
  async submit<R>(bucketKey: string, jobName: string, data?: unknown): Promise<ClientSubmitResult<R>> {
    if (bucketKey === '.' || bucketKey === '..') {
      // fetch resolves these as dot segments of the URL path: they cannot be sent.
      throw new GrexError('GREX_ERR_KEY_INVALID', `bucketKey ${JSON.stringify(bucketKey)} cannot travel in a URL path; use node.submit in process`);
    }
    const path = `/buckets/${encodeURIComponent(bucketKey)}/jobs/${encodeURIComponent(jobName)}`;
    const body = JSON.stringify(data ?? null);
    const first = this.targetFor(bucketKey);
    let response: HttpAnswer;
    try {
      response = await this.#post(first + path, body);
    } catch (err) {
      // Only a connection that never opened is safe to retry elsewhere: a request that
      // may have reached the node may also have run the job.
      if (!neverConnected(err)) throw new GrexError('GREX_ERR_NODE_UNREACHABLE', `request to ${first} failed: ${describe(err)}`);
      this.#forget(first);
      response = await this.#postToSeeds(path, body, first, err);
    }
    const text = response.text;
    let parsed: { result?: R; activeNode?: string; error?: { code?: string; message?: string; data?: unknown } };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new GrexError('GREX_ERR_INTERNAL', `unexpected answer (${response.status}): ${text.slice(0, 200)}`);
    }
    const ok = response.status >= 200 && response.status < 300;
    if (!ok || parsed.error !== undefined) throw fromWire(parsed.error ?? { message: `HTTP ${response.status}` });
    this.#remember(header(response, 'grex-flock') ?? null, parsed.activeNode);
    return { result: parsed.result as R, activeNode: parsed.activeNode ?? first };
  }

  async #postToSeeds(path: string, body: string, failed: string, firstError: unknown): Promise<HttpAnswer> {
    for (const seed of this.seeds) {
      if (seed === failed) continue;
      try {
        return await this.#post(seed + path, body);
      } catch (err) {
        if (!neverConnected(err)) throw new GrexError('GREX_ERR_NODE_UNREACHABLE', `request to ${seed} failed: ${describe(err)}`);
      }
    }
    throw new GrexError('GREX_ERR_NODE_UNREACHABLE', `no Grex node reachable (${describe(firstError)})`, { seeds: [...this.seeds] });
  }

  #post(url: string, body: string): Promise<HttpAnswer> {
    return httpRequest(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body,
      timeoutMs: this.#timeoutMs,
      agents: this.#agents,
    });
  }

  #remember(flockHeader: string | null, activeNode: string | undefined): void {
    if (flockHeader === null || activeNode === undefined) return;
    const [flockText, flocksText] = flockHeader.split('/');
    const flock = Number(flockText);
    const flocks = Number(flocksText);
    if (!Number.isInteger(flock) || !Number.isInteger(flocks) || flocks < 1) return;
    if (this.#flocks !== flocks) {
      this.#flocks = flocks;
      this.#activeByFlock.clear();
    }
    if (this.#activeByFlock.size >= this.#maxRemembered) this.#activeByFlock.clear();
    this.#activeByFlock.set(flock, trimSlash(activeNode));
  }

  #forget(url: string): void {
    for (const [flock, node] of this.#activeByFlock) if (node === url) this.#activeByFlock.delete(flock);
  }
}
