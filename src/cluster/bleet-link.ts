/**
 * One connection to a peer, either direction: the hello exchange, heartbeats,
 * and requests multiplexed by id with deadlines.
 *
 * States: greeting (hello sent, waiting for the peer's) -> ready -> closed.
 * Any frame that fails validation, any frame but hello while greeting, or a
 * hello from another cluster closes the link with a logged reason; the node
 * goes on. Limits keep memory bounded: at most `maxInFlight` own requests
 * waiting for answers, nothing queued past `maxBufferedBytes` (such requests
 * fail at once with GREX_ERR_OVERLOADED), and at most `maxServing` of the
 * peer's requests, of at most `maxServingBytes` together, handled at a time
 * (more are answered OVERLOADED: a peer that sends faster than this node
 * serves cannot make it hold an unbounded backlog of request bodies). A
 * bleet whose frame announces attachments (bleet-messages.ts) is handled once
 * they all arrived; a frame and its attachments together are at most
 * `maxBleetBytes`.
 */
import { asGrexError, GrexError, type WireError } from '../errors.js';
import {
  BLEET_PROTOCOL,
  MAX_TTL_MS,
  BleetInvalidError,
  decodeFrame,
  encodeBleet,
  validateRequest,
  validateResponse,
  type BleetMethod,
  type BleetRequest,
  type BleetResponse,
  type Frame,
} from './bleet-messages.js';
import type { MemberInfo } from './membership.js';
import type { FrameSocket } from './transport.js';

export interface LinkLimits {
  /** Own requests waiting for answers. */
  maxInFlight: number;
  /** Bytes queued on the socket before new requests are refused. */
  maxBufferedBytes: number;
  /** The peer's requests being served at once. */
  maxServing: number;
  /** Frame bytes of the peer's requests being served at once (one request is always served, whatever its size). */
  maxServingBytes: number;
  /** Largest bleet from the peer: a frame and its attachments together (option bleetMaxFrameMb). */
  maxBleetBytes: number;
}

export const DEFAULT_LINK_LIMITS: LinkLimits = {
  maxInFlight: 4096,
  maxBufferedBytes: 64 * 1024 * 1024,
  maxServing: 1024,
  maxServingBytes: 128 * 1024 * 1024,
  maxBleetBytes: 64 * 1024 * 1024,
};

/** A req or res frame whose attachments are still on their way. */
interface Assembling {
  frame: Extract<Frame, { t: 'req' } | { t: 'res'; ok: true }>;
  lengths: readonly number[];
  parts: Uint8Array[];
  /** The frame's bytes and its attachments'. */
  size: number;
}

export interface LinkHandlers {
  /** The peer said hello; throw to refuse it (the link closes). */
  onHello(link: BleetLink, peer: MemberInfo): void;
  onPing(link: BleetLink, digest: string, version: number): void;
  /** Serves a peer's request; resolves with the response body. */
  onRequest<M extends BleetMethod>(link: BleetLink, method: M, body: BleetRequest<M>, ttlMs: number): Promise<BleetResponse<M>>;
  onClose(link: BleetLink, reason: string): void;
  /** A frame was refused or the link broke for a reason worth logging. */
  onProblem(link: BleetLink, error: GrexError): void;
}

interface Pending {
  method: BleetMethod;
  resolve: (body: unknown) => void;
  reject: (err: GrexError) => void;
  timer: NodeJS.Timeout;
}

export class BleetLink {
  readonly socket: FrameSocket;
  /** The peer's member entry, once it said hello. */
  peer: MemberInfo | null = null;
  readonly #flocks: number;
  readonly #handlers: LinkHandlers;
  readonly #limits: LinkLimits;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #serving = 0;
  #servingBytes = 0;
  #assembling: Assembling | null = null;
  #closed = false;
  #markClosed: (reason: string) => void = () => {};
  /** Resolves with the reason once the link has closed. */
  readonly whenClosed = new Promise<string>((resolve) => (this.#markClosed = resolve));

  constructor(socket: FrameSocket, options: { self: MemberInfo; flocks: number; handlers: LinkHandlers; limits?: LinkLimits }) {
    this.socket = socket;
    this.#flocks = options.flocks;
    this.#handlers = options.handlers;
    this.#limits = options.limits ?? DEFAULT_LINK_LIMITS;
    socket.onFrame((frame) => this.#onFrame(frame));
    socket.onClose((reason) => this.#onClosed(reason));
    this.#send({ t: 'hello', proto: BLEET_PROTOCOL, flocks: options.flocks, member: options.self });
  }

  get ready(): boolean {
    return this.peer !== null && !this.#closed;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  #send(frame: Frame): boolean {
    return this.socket.send(encodeBleet(frame));
  }

  ping(digest: string, version: number): void {
    if (this.ready) this.#send({ t: 'ping', digest, version });
  }

  /** Sends a request; rejects with a GrexError on a refusal, an error answer, a closed link or the deadline. */
  request<M extends BleetMethod>(method: M, body: BleetRequest<M>, timeoutMs: number): Promise<BleetResponse<M>> {
    const who = this.peer?.nodeId ?? this.socket.remote;
    if (!this.ready) return Promise.reject(new GrexError('GREX_ERR_PEER_UNAVAILABLE', `no open connection to ${who}`));
    if (this.#pending.size >= this.#limits.maxInFlight || this.socket.bufferedBytes > this.#limits.maxBufferedBytes) {
      return Promise.reject(
        new GrexError('GREX_ERR_OVERLOADED', `connection to ${who} is full (${this.#pending.size} requests waiting)`, { retryAfterSeconds: 1 }),
      );
    }
    const id = this.#nextId++;
    // The deadline travels as whole milliseconds within what a peer accepts.
    timeoutMs = Math.max(1, Math.min(Math.round(timeoutMs), MAX_TTL_MS));
    return new Promise<BleetResponse<M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new GrexError('GREX_ERR_BLEET_TIMEOUT', `${who} did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { method, resolve: resolve as (body: unknown) => void, reject, timer });
      if (!this.#send({ t: 'req', id, m: method, ttl: timeoutMs, b: body })) {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new GrexError('GREX_ERR_PEER_UNAVAILABLE', `connection to ${who} closed`));
      }
    });
  }

  close(reason: string): void {
    this.socket.close(reason);
  }

  #refuse(error: GrexError): void {
    this.#handlers.onProblem(this, error);
    this.close(error.message);
  }

  #onFrame(bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#assembling !== null) return this.#onAttachment(this.#assembling, bytes);
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      return this.#refuse(new GrexError('GREX_ERR_BLEET_INVALID', `invalid bleet from ${this.socket.remote}: ${(err as Error).message}`));
    }
    if (this.peer === null && frame.t !== 'hello') {
      return this.#refuse(new GrexError('GREX_ERR_BLEET_INVALID', `${this.socket.remote} sent ${frame.t} before hello`));
    }
    if ((frame.t === 'req' || (frame.t === 'res' && frame.ok)) && frame.x !== undefined) {
      const size = frame.x.reduce((sum, n) => sum + n, bytes.byteLength);
      if (size > this.#limits.maxBleetBytes) {
        return this.#refuse(new GrexError('GREX_ERR_BLEET_INVALID', `${this.socket.remote} announced a bleet of ${size} bytes (at most ${this.#limits.maxBleetBytes})`));
      }
      this.#assembling = { frame, lengths: frame.x, parts: [], size };
      return;
    }
    this.#dispatch(frame, bytes.byteLength, []);
  }

  /** The next message after a frame that announced attachments: the next of them. */
  #onAttachment(assembling: Assembling, bytes: Uint8Array): void {
    const index = assembling.parts.length;
    const expected = assembling.lengths[index]!;
    if (bytes.byteLength !== expected) {
      return this.#refuse(
        new GrexError('GREX_ERR_BLEET_INVALID', `invalid bleet from ${this.socket.remote}: attachment ${index} has ${bytes.byteLength} bytes, its frame announced ${expected}`),
      );
    }
    assembling.parts.push(bytes);
    if (assembling.parts.length < assembling.lengths.length) return;
    this.#assembling = null;
    this.#dispatch(assembling.frame, assembling.size, assembling.parts);
  }

  #dispatch(frame: Frame, size: number, attachments: readonly Uint8Array[]): void {
    switch (frame.t) {
      case 'hello':
        return this.#onHello(frame);
      case 'ping':
        return this.#handlers.onPing(this, frame.digest, frame.version);
      case 'req':
        return void this.#serve(frame.id, frame.m, frame.b, frame.ttl, size, attachments);
      case 'res':
        return this.#onResponse(frame, attachments);
    }
  }

  #onHello(frame: Extract<Frame, { t: 'hello' }>): void {
    if (this.peer !== null) return this.#refuse(new GrexError('GREX_ERR_BLEET_INVALID', `${this.socket.remote} said hello twice`));
    if (frame.proto !== BLEET_PROTOCOL || frame.flocks !== this.#flocks) {
      return this.#refuse(
        new GrexError(
          'GREX_ERR_CLUSTER_MISMATCH',
          `${frame.member.nodeId} at ${this.socket.remote} speaks bleet protocol ${frame.proto} with ${frame.flocks} flocks; this node: ${BLEET_PROTOCOL} with ${this.#flocks}`,
        ),
      );
    }
    const proven = this.socket.authenticatedAs;
    if (proven !== undefined && proven !== frame.member.nodeId) {
      return this.#refuse(
        new GrexError('GREX_ERR_BLEET_AUTH', `${this.socket.remote} authenticated as ${proven} but said hello as ${frame.member.nodeId}`),
      );
    }
    try {
      this.#handlers.onHello(this, frame.member);
    } catch (err) {
      return this.#refuse(asGrexError(err));
    }
    this.peer = frame.member;
  }

  async #serve(id: number, method: BleetMethod, rawBody: unknown, ttl: number, size: number, attachments: readonly Uint8Array[]): Promise<void> {
    let body: BleetRequest<BleetMethod>;
    try {
      body = validateRequest(method, rawBody, attachments);
    } catch (err) {
      return this.#refuse(new GrexError('GREX_ERR_BLEET_INVALID', `invalid ${method} request from ${this.peer?.nodeId}: ${(err as Error).message}`));
    }
    const full = this.#serving >= this.#limits.maxServing;
    if (full || (this.#serving > 0 && this.#servingBytes + size > this.#limits.maxServingBytes)) {
      const message = full ? 'peer is serving too many requests' : `peer is serving ${this.#servingBytes} bytes of requests`;
      this.#send({ t: 'res', id, ok: false, e: { code: 'GREX_ERR_OVERLOADED', message, data: { retryAfterSeconds: 1 } } });
      return;
    }
    this.#serving++;
    this.#servingBytes += size;
    try {
      const result = await this.#handlers.onRequest(this, method, body, ttl);
      this.#send({ t: 'res', id, ok: true, b: result });
    } catch (err) {
      const error: WireError = asGrexError(err).toWire();
      this.#send({ t: 'res', id, ok: false, e: error });
    } finally {
      this.#serving--;
      this.#servingBytes -= size;
    }
  }

  #onResponse(frame: Extract<Frame, { t: 'res' }>, attachments: readonly Uint8Array[]): void {
    const pending = this.#pending.get(frame.id);
    if (pending === undefined) return; // answered after its deadline: dropped
    this.#pending.delete(frame.id);
    clearTimeout(pending.timer);
    if (!frame.ok) return pending.reject(new GrexError(frame.e.code, frame.e.message, frame.e.data));
    let body: unknown;
    try {
      body = validateResponse(pending.method, frame.b, attachments);
    } catch (err) {
      pending.reject(new GrexError('GREX_ERR_BLEET_INVALID', `invalid ${pending.method} answer: ${(err as Error).message}`));
      return this.#refuse(new GrexError('GREX_ERR_BLEET_INVALID', `invalid ${pending.method} answer from ${this.peer?.nodeId}: ${(err as Error).message}`));
    }
    pending.resolve(body);
  }

  #onClosed(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const who = this.peer?.nodeId ?? this.socket.remote;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new GrexError('GREX_ERR_PEER_UNAVAILABLE', `connection to ${who} closed: ${reason}`));
    }
    this.#pending.clear();
    this.#handlers.onClose(this, reason);
    this.#markClosed(reason);
  }
}

export { BleetInvalidError };
