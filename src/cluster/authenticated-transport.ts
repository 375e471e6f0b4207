/**
 * A transport that authenticates every connection before handing it on: it
 * wraps another transport (ws or in-memory), runs the handshake of
 * bleet-auth.ts on each new socket, and only a socket whose peer proved it
 * knows the cluster secret reaches the bleet link. Until then every frame
 * goes to the handshake and nothing else; a failure closes the socket with
 * reason `GREX_ERR_BLEET_AUTH: …` and a log line, and the node goes on.
 *
 * Limits: a handshake must finish within `timeoutMs`, and at most
 * `maxPending` handshakes of incoming connections run at once (more are
 * closed at once), so strangers cannot pile up half-open connections.
 */
import { GrexError } from '../errors.js';
import type { Logger } from '../log.js';
import { BleetHandshake, type AuthRole } from './bleet-auth.js';
import { FrameSocketBase, type FrameSocket, type Outgoing, type Transport } from './transport.js';

export interface AuthOptions {
  secret: string;
  selfId: string;
  logger: Logger;
  /** Longest a handshake may take (default 5000 ms). */
  timeoutMs?: number;
  /** Most incoming handshakes in progress at once (default 64). */
  maxPending?: number;
}

/** A socket whose peer proved it knows the secret; frames pass through unchanged. */
class AuthenticatedSocket extends FrameSocketBase {
  readonly #raw: FrameSocket;
  readonly authenticatedAs: string;

  constructor(raw: FrameSocket, peerId: string) {
    super();
    this.#raw = raw;
    this.authenticatedAs = peerId;
    raw.onClose((reason) => this.markClosed(reason));
  }

  /** @internal a frame that arrived after the handshake. */
  pass(frame: Uint8Array): void {
    this.receive(frame);
  }

  get remote(): string {
    return this.#raw.remote;
  }

  get bufferedBytes(): number {
    return this.#raw.bufferedBytes;
  }

  send(frame: Outgoing): boolean {
    return !this.isClosed && this.#raw.send(frame);
  }

  close(reason: string): void {
    this.#raw.close(reason);
  }
}

/**
 * Runs the handshake on a raw socket; resolves with the authenticated
 * socket, or rejects with GREX_ERR_BLEET_AUTH after closing the raw one.
 */
export function authenticate(raw: FrameSocket, options: { secret: string; selfId: string; role: AuthRole; timeoutMs: number }): Promise<FrameSocket> {
  const handshake = new BleetHandshake({ secret: options.secret, selfId: options.selfId, role: options.role });
  return new Promise((resolve, reject) => {
    let authenticated: AuthenticatedSocket | null = null;
    let settled = false;
    const fail = (error: GrexError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      raw.close(`${error.code}: ${error.message}`);
      reject(error);
    };
    const timer = setTimeout(() => fail(new GrexError('GREX_ERR_BLEET_AUTH', `no authentication within ${options.timeoutMs} ms`)), options.timeoutMs);
    timer.unref();
    raw.onClose((reason) => fail(new GrexError('GREX_ERR_BLEET_AUTH', `closed during authentication: ${reason}`)));
    // The challenge goes first: the peer's may already be waiting, and setting the frame
    // handler answers it at once with a proof, which must not overtake our challenge.
    if (!raw.send(handshake.challenge())) return fail(new GrexError('GREX_ERR_BLEET_AUTH', 'the connection closed before authentication'));
    raw.onFrame((frame) => {
      if (authenticated !== null) return authenticated.pass(frame);
      if (settled) return; // failed: nothing more is read
      let step;
      try {
        step = handshake.receive(frame);
      } catch (err) {
        return fail(err as GrexError);
      }
      if (step.send !== undefined) raw.send(step.send);
      if (step.authenticated !== undefined) {
        settled = true;
        clearTimeout(timer);
        authenticated = new AuthenticatedSocket(raw, step.authenticated);
        resolve(authenticated);
      }
    });
  });
}

export class AuthenticatedTransport implements Transport {
  readonly #inner: Transport;
  readonly #options: Required<AuthOptions>;
  #pending = 0;
  /** Connections refused (either direction) since start. */
  refused = 0;

  constructor(inner: Transport, options: AuthOptions) {
    this.#inner = inner;
    this.#options = { timeoutMs: 5000, maxPending: 64, ...options };
  }

  #refusedLog(remote: string, direction: 'incoming' | 'outgoing', error: GrexError): void {
    this.refused++;
    this.#options.logger.warn({ remote, direction, code: error.code }, `bleet connection refused: ${error.message}`);
  }

  listen(onSocket: (socket: FrameSocket) => void): Promise<string> {
    return this.#inner.listen((raw) => {
      if (this.#pending >= this.#options.maxPending) {
        const error = new GrexError('GREX_ERR_BLEET_AUTH', `${this.#pending} connections are already authenticating`);
        raw.close(`${error.code}: ${error.message}`);
        return this.#refusedLog(raw.remote, 'incoming', error);
      }
      this.#pending++;
      authenticate(raw, { ...this.#options, role: 'listener' }).then(
        (socket) => {
          this.#pending--;
          onSocket(socket);
        },
        (err: GrexError) => {
          this.#pending--;
          this.#refusedLog(raw.remote, 'incoming', err);
        },
      );
    });
  }

  async dial(url: string): Promise<FrameSocket> {
    const raw = await this.#inner.dial(url);
    try {
      return await authenticate(raw, { ...this.#options, role: 'dialer' });
    } catch (err) {
      this.#refusedLog(url, 'outgoing', err as GrexError);
      throw err;
    }
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
