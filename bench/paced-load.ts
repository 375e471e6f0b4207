/**
 * Open-loop load at an even pace: every millisecond the requests due by then
 * (rate × elapsed) are released, whatever the answers before them did. A
 * request's latency is counted from its release, so time spent waiting for
 * a free connection behind a stalled server counts too (no coordinated
 * omission, as in wrk2).
 *
 * autocannon cannot do this: its rate limit gives each connection a budget
 * per second and lets it spend it as fast as it is answered, then waits for
 * the next second (lib/httpClient.js, `reqsMadeThisSecond`). At half the
 * maximum rate that is full load for half of every second and none for the
 * rest, so its latencies are the full-load ones. This is used only for the
 * "latency at a given rate" measurement; throughput stays autocannon's.
 *
 * node:http's client costs too much per request to measure sub-millisecond
 * servers (p50 1.3 ms against a fastify hello at 4,000 req/s here), so this
 * speaks HTTP/1.1 itself over keep-alive sockets: one request in flight per
 * socket, answers read by Content-Length (chunked answers are refused), as
 * the servers measured here answer.
 */
import { connect, type Socket } from 'node:net';

export interface PacedRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
}

export interface PacedResult {
  /** Latencies of 2xx answers, ms from each request's release. */
  latencies: number[];
  /** When each of those requests was released (ms since the run started), in the same order. */
  releasedAt: number[];
  sent: number;
  non2xx: number;
  errors: number;
  elapsedSec: number;
}

const TICK_MS = 1;
const HEADER_END = Buffer.from('\r\n\r\n');

/** One keep-alive connection carrying one request at a time. */
class PacedConnection {
  readonly #socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #onAnswer: ((status: number) => void) | null = null;
  #failed: ((err: Error) => void) | null = null;
  readonly ready: Promise<void>;

  constructor(url: URL) {
    this.#socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true });
    this.ready = new Promise((resolve, reject) => {
      this.#socket.once('connect', resolve);
      this.#socket.once('error', reject);
    });
    this.#socket.on('data', (chunk: Buffer) => this.#read(chunk));
    this.#socket.on('error', (err) => this.#fail(err));
    this.#socket.on('close', () => this.#fail(new Error('connection closed')));
  }

  send(bytes: Buffer, onAnswer: (status: number) => void, onError: (err: Error) => void): void {
    this.#onAnswer = onAnswer;
    this.#failed = onError;
    this.#socket.write(bytes);
  }

  #read(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const end = this.#buffer.indexOf(HEADER_END);
    if (end === -1) return;
    const head = this.#buffer.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (length === null) return this.#fail(new Error(`an answer without Content-Length: ${head.slice(0, 200)}`));
    const total = end + 4 + Number(length[1]);
    if (this.#buffer.length < total) return;
    this.#buffer = this.#buffer.subarray(total);
    const answer = this.#onAnswer;
    this.#onAnswer = null;
    this.#failed = null;
    answer?.(status);
  }

  #fail(err: Error): void {
    const failed = this.#failed;
    this.#onAnswer = null;
    this.#failed = null;
    failed?.(err);
  }

  close(): void {
    this.#socket.destroy();
  }
}

function requestBytes(url: URL, request: PacedRequest): Buffer {
  const body = request.body === undefined ? null : Buffer.from(request.body);
  const head =
    `${request.method} ${request.path} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: keep-alive\r\n` +
    (body === null ? '' : `content-type: application/json\r\ncontent-length: ${body.length}\r\n`) +
    '\r\n';
  return body === null ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

export async function pacedLoad(options: {
  url: string;
  rate: number;
  durationSec: number;
  /** Connections kept open; a released request waits for a free one (its wait counts in its latency). */
  connections: number;
  timeoutSec: number;
  next: () => PacedRequest;
}): Promise<PacedResult> {
  const url = new URL(options.url);
  const idle: PacedConnection[] = Array.from({ length: options.connections }, () => new PacedConnection(url));
  await Promise.all(idle.map((c) => c.ready));
  const all = [...idle];
  const result: PacedResult = { latencies: [], releasedAt: [], sent: 0, non2xx: 0, errors: 0, elapsedSec: 0 };
  const total = Math.round(options.rate * options.durationSec);
  let start = performance.now();
  /** Released requests waiting for a free connection: when each was released. */
  const waiting: number[] = [];
  let answered = 0;
  let allAnswered!: () => void;
  const done = new Promise<void>((resolve) => (allAnswered = resolve));

  const dispatch = () => {
    while (waiting.length > 0 && idle.length > 0) {
      const releasedAt = waiting.shift()!;
      const connection = idle.pop()!;
      let settled = false;
      const settle = (outcome: 'ok' | 'error', timedOut: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        finish(connection, outcome, timedOut);
      };
      const timer = setTimeout(() => settle('error', true), options.timeoutSec * 1000);
      connection.send(
        requestBytes(url, options.next()),
        (status) => {
          if (status >= 200 && status < 300) {
            result.latencies.push(performance.now() - releasedAt);
            result.releasedAt.push(releasedAt - start);
          }
          else result.non2xx++;
          settle('ok', false);
        },
        () => settle('error', false),
      );
    }
  };
  const finish = (connection: PacedConnection, outcome: 'ok' | 'error', timedOut: boolean) => {
    if (outcome === 'error') {
      // The connection is not used again (fewer connections for the rest of the run).
      result.errors++;
      if (timedOut) connection.close();
    } else {
      idle.push(connection);
    }
    answered++;
    if (answered === total) allAnswered();
    else dispatch();
  };

  start = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - start) / 1000) * options.rate) + 1);
      while (result.sent < due) {
        waiting.push(now);
        result.sent++;
      }
      dispatch();
      if (result.sent < total) setTimeout(tick, TICK_MS);
      else resolve();
    };
    tick();
  });
  if (answered < total) await done;
  result.elapsedSec = (performance.now() - start) / 1000;
  for (const connection of all) connection.close();
  return result;
}
