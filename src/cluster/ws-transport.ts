/**
 * Bleets over WebSockets (ws): binary frames only, no compression
 * (perMessageDeflate off: frames are small or already compact msgpack), a
 * maximum frame size enforced by ws itself, and frames sent unmasked in
 * effect (an all-zero mask: ws skips masking, so a large frame is not copied;
 * bufferutil's native code handles what masking remains when installed).
 *
 * With `tls`, the listener is wss:// (an https server carries the upgrade)
 * and dials verify the peer's certificate against `tls.ca` (or the system
 * CAs); a plaintext ws:// URL is then refused rather than dialled.
 *
 * With `preAuth` (set when an authenticated transport runs on top), the
 * first frames of every connection, both ways, are checked on the raw bytes
 * before ws buffers them (pre-auth-guard.ts), so a stranger cannot make the
 * node hold a frame of up to maxFrameBytes before its handshake is checked.
 */
import type { EventEmitter } from 'node:events';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { PreAuthFrameGuard, type PreAuthLimits } from './pre-auth-guard.js';
import { FrameSocketBase, messagesOf, type FrameSocket, type Outgoing, type Transport } from './transport.js';

export interface WsTlsOptions {
  key: Buffer;
  cert: Buffer;
  /** CA certificates that sign the peers' certificates; default: the system CAs. */
  ca?: Buffer;
}

export interface WsTransportOptions {
  host: string;
  port: number;
  maxFrameBytes: number;
  /** Give up opening a connection after this long. */
  connectTimeoutMs?: number;
  /** wss:// instead of ws://. */
  tls?: WsTlsOptions;
  /** Limits of the frames a peer sends before it is authenticated; none when absent. */
  preAuth?: PreAuthLimits;
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

/**
 * Watches the raw bytes of `raw` ahead of ws (its listener goes first) until
 * the handshake frames passed; `refuse` is called at the first that breaks
 * the limits. Must be called before any data event of the socket: in ws's
 * 'connection' or 'upgrade' event, which come in the same turn as ws's own
 * data listener is added (and its head bytes are put back to be read).
 */
function guardHandshake(raw: Duplex, limits: PreAuthLimits, refuse: (reason: string) => void): void {
  const guard = new PreAuthFrameGuard(limits);
  const onData = (chunk: Buffer) => {
    const verdict = guard.feed(chunk);
    if (verdict.state === 'watching') return;
    raw.off('data', onData);
    if (verdict.state === 'refused') refuse(verdict.reason);
  };
  raw.prependListener('data', onData);
}

/** The TCP socket under a ws WebSocket (ws keeps it as `_socket`), to cork it. */
function rawSocketOf(ws: WebSocket): Duplex | undefined {
  const raw = (ws as unknown as { _socket?: Duplex })._socket;
  return raw !== undefined && typeof raw.cork === 'function' ? raw : undefined;
}

class WsFrameSocket extends FrameSocketBase {
  readonly remote: string;
  readonly #ws: WebSocket;
  /** Set while the frames of this event-loop turn are held back, to go out in one write. */
  #corked: Duplex | null = null;

  constructor(ws: WebSocket, remote: string) {
    super();
    this.#ws = ws;
    this.remote = remote;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) return this.close('text frames are not bleets');
      this.receive(toBytes(data));
    });
    ws.on('error', (err: Error) => this.#finish(`socket error: ${err.message}`));
    ws.on('close', (code: number, reason: Buffer) => this.#finish(`closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`));
  }

  #finish(reason: string): void {
    if (this.markClosed(reason)) this.#ws.terminate();
  }

  get bufferedBytes(): number {
    return this.#ws.bufferedAmount;
  }

  send(frame: Outgoing): boolean {
    if (this.isClosed || this.#ws.readyState !== WebSocket.OPEN) return false;
    this.#cork();
    // One message each, queued on the socket in this order at once: nothing can come in between.
    for (const message of messagesOf(frame)) this.#ws.send(message, { binary: true });
    return true;
  }

  /**
   * Holds this turn's frames back and writes them together once the turn's
   * I/O callbacks ran (setImmediate): one writev instead of one per frame.
   * On loopback and LAN alike a write's system call costs far more than its
   * bytes, and an active node sends many small bleets to the same herder.
   */
  #cork(): void {
    if (this.#corked !== null) return;
    const raw = rawSocketOf(this.#ws);
    if (raw === undefined) return;
    raw.cork();
    this.#corked = raw;
    setImmediate(() => this.#uncork());
  }

  #uncork(): void {
    const raw = this.#corked;
    this.#corked = null;
    raw?.uncork();
  }

  close(reason: string): void {
    if (this.isClosed) return;
    this.#uncork(); // what was sent before goes out ahead of the close frame
    // 1008: policy violation (a bad frame); the peer learns why, then the socket goes.
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1008, reason.slice(0, 120));
    this.#finish(reason);
  }
}

export class WsTransport implements Transport {
  readonly #options: WsTransportOptions;
  #server: WebSocketServer | null = null;
  #https: HttpsServer | null = null;
  readonly #sockets = new Set<WsFrameSocket>();

  constructor(options: WsTransportOptions) {
    this.#options = options;
  }

  listen(onSocket: (socket: FrameSocket) => void): Promise<string> {
    return new Promise((resolve, reject) => {
      const tls = this.#options.tls;
      const common = { perMessageDeflate: false, maxPayload: this.#options.maxFrameBytes };
      let server: WebSocketServer;
      let listening: EventEmitter; // whichever owns the port
      if (tls === undefined) {
        server = new WebSocketServer({ host: this.#options.host, port: this.#options.port, ...common });
        listening = server;
      } else {
        const https = createHttpsServer({ key: tls.key, cert: tls.cert });
        // A client that fails the TLS handshake (plaintext, wrong CA) just goes away.
        https.on('tlsClientError', (_err, socket) => socket.destroy());
        server = new WebSocketServer({ server: https, ...common });
        this.#https = https;
        listening = https;
        https.listen(this.#options.port, this.#options.host);
      }
      listening.once('error', reject);
      listening.once('listening', () => {
        listening.off('error', reject);
        listening.on('error', () => {}); // errors of single connections surface on their sockets
        server.on('error', () => {});
        const address = (this.#https ?? server).address();
        if (address === null || typeof address === 'string') return resolve(String(address));
        const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve(`${tls === undefined ? 'ws' : 'wss'}://${host}:${address.port}`);
      });
      server.on('connection', (ws, request) => {
        const socket = new WsFrameSocket(ws, `${request.socket.remoteAddress}:${request.socket.remotePort}`);
        const preAuth = this.#options.preAuth;
        if (preAuth !== undefined) guardHandshake(request.socket, preAuth, (reason) => socket.close(reason));
        this.#track(socket);
        onSocket(socket);
      });
      this.#server = server;
    });
  }

  #track(socket: WsFrameSocket): void {
    this.#sockets.add(socket);
    socket.onClose(() => this.#sockets.delete(socket));
  }

  dial(url: string): Promise<FrameSocket> {
    const tls = this.#options.tls;
    if (tls !== undefined && !url.startsWith('wss://')) {
      return Promise.reject(new Error(`refusing to dial ${url} in plaintext: this node uses TLS (wss://)`));
    }
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        perMessageDeflate: false,
        maxPayload: this.#options.maxFrameBytes,
        handshakeTimeout: this.#options.connectTimeoutMs ?? 5000,
        // An all-zero mask: ws then sends the payload as it is instead of copying it to mask it.
        // Masking guards browsers' proxies against forged requests; between nodes it only costs.
        generateMask: (mask: Buffer) => void mask.fill(0),
        ...(tls?.ca === undefined ? {} : { ca: tls.ca }),
      });
      const onError = (err: Error) => {
        ws.terminate();
        reject(err);
      };
      ws.once('error', onError);
      let socket: WsFrameSocket | null = null;
      const preAuth = this.#options.preAuth;
      if (preAuth !== undefined) {
        // Data comes only after 'open', so a refusal finds the frame socket made.
        ws.once('upgrade', (response) => guardHandshake(response.socket, preAuth, (reason) => (socket === null ? ws.terminate() : socket.close(reason))));
      }
      ws.once('open', () => {
        ws.off('error', onError);
        socket = new WsFrameSocket(ws, url);
        this.#track(socket);
        resolve(socket);
      });
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.close('transport closing');
    this.#sockets.clear();
    const server = this.#server;
    const https = this.#https;
    this.#server = null;
    this.#https = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (https !== null) {
      https.closeAllConnections();
      await new Promise<void>((resolve) => https.close(() => resolve()));
    }
  }
}
