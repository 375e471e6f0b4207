/**
 * Bleets over WebSockets (ws): binary frames only, no compression
 * (perMessageDeflate off: frames are small or already compact msgpack), a
 * maximum frame size enforced by ws itself, and bufferutil's native masking
 * when the optional package is installed (ws picks it up on its own).
 */
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { FrameSocketBase, type FrameSocket, type Transport } from './transport.js';

export interface WsTransportOptions {
  host: string;
  port: number;
  maxFrameBytes: number;
  /** Give up opening a connection after this long. */
  connectTimeoutMs?: number;
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

class WsFrameSocket extends FrameSocketBase {
  readonly remote: string;
  readonly #ws: WebSocket;

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

  send(frame: Uint8Array): boolean {
    if (this.isClosed || this.#ws.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(frame, { binary: true });
    return true;
  }

  close(reason: string): void {
    if (this.isClosed) return;
    // 1008: policy violation (a bad frame); the peer learns why, then the socket goes.
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1008, reason.slice(0, 120));
    this.#finish(reason);
  }
}

export class WsTransport implements Transport {
  readonly #options: WsTransportOptions;
  #server: WebSocketServer | null = null;
  readonly #sockets = new Set<WsFrameSocket>();

  constructor(options: WsTransportOptions) {
    this.#options = options;
  }

  listen(onSocket: (socket: FrameSocket) => void): Promise<string> {
    return new Promise((resolve, reject) => {
      const server = new WebSocketServer({
        host: this.#options.host,
        port: this.#options.port,
        perMessageDeflate: false,
        maxPayload: this.#options.maxFrameBytes,
      });
      server.once('error', reject);
      server.once('listening', () => {
        server.off('error', reject);
        server.on('error', () => {}); // errors of single connections surface on their sockets
        const address = server.address();
        if (address === null || typeof address === 'string') return resolve(String(address));
        const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve(`ws://${host}:${address.port}`);
      });
      server.on('connection', (ws, request) => {
        const socket = new WsFrameSocket(ws, `${request.socket.remoteAddress}:${request.socket.remotePort}`);
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
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        perMessageDeflate: false,
        maxPayload: this.#options.maxFrameBytes,
        handshakeTimeout: this.#options.connectTimeoutMs ?? 5000,
      });
      const onError = (err: Error) => {
        ws.terminate();
        reject(err);
      };
      ws.once('error', onError);
      ws.once('open', () => {
        ws.off('error', onError);
        const socket = new WsFrameSocket(ws, url);
        this.#track(socket);
        resolve(socket);
      });
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.close('transport closing');
    this.#sockets.clear();
    const server = this.#server;
    this.#server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
