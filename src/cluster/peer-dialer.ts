/**
 * Keeps one outgoing connection open to each wanted peer URL: dials, and
 * after a failure or a close dials again with exponential backoff and jitter
 * (so a restarting cluster does not reconnect in lockstep). A connection that
 * stayed up for a while resets the backoff.
 */
import type { BleetLink } from './bleet-link.js';
import type { FrameSocket, Transport } from './transport.js';

export interface DialerOptions {
  /** First retry delay; doubles per failure up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

interface DialLoop {
  stop: () => void;
}

export class PeerDialer {
  readonly #transport: Transport;
  readonly #makeLink: (socket: FrameSocket, url: string) => BleetLink;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #loops = new Map<string, DialLoop>();
  #stopped = false;

  constructor(transport: Transport, makeLink: (socket: FrameSocket, url: string) => BleetLink, options: DialerOptions = {}) {
    this.#transport = transport;
    this.#makeLink = makeLink;
    this.#minBackoffMs = options.minBackoffMs ?? 50;
    this.#maxBackoffMs = options.maxBackoffMs ?? 2000;
  }

  /** URLs with a dial loop. */
  get urls(): string[] {
    return [...this.#loops.keys()];
  }

  want(url: string): void {
    if (this.#stopped || this.#loops.has(url)) return;
    let stopped = false;
    let wake: (() => void) | null = null;
    let current: BleetLink | null = null;
    const loop: DialLoop = {
      stop: () => {
        stopped = true;
        current?.close('no longer wanted');
        wake?.();
      },
    };
    this.#loops.set(url, loop);
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        timer.unref();
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    void (async () => {
      let failures = 0;
      while (!stopped) {
        let upSince = 0;
        try {
          const socket = await this.#transport.dial(url);
          if (stopped) {
            socket.close('no longer wanted');
            break;
          }
          try {
            current = this.#makeLink(socket, url);
          } catch (err) {
            socket.close('cannot set up the connection');
            throw err;
          }
          upSince = Date.now();
          await current.whenClosed;
          current = null;
        } catch {
          // refused or unreachable: back off and try again
        }
        if (stopped) break;
        failures = upSince > 0 && Date.now() - upSince > this.#maxBackoffMs ? 0 : failures + 1;
        const base = Math.min(this.#maxBackoffMs, this.#minBackoffMs * 2 ** Math.min(failures, 16));
        await sleep(base / 2 + Math.random() * (base / 2));
      }
    })();
  }

  unwant(url: string): void {
    this.#loops.get(url)?.stop();
    this.#loops.delete(url);
  }

  stop(): void {
    this.#stopped = true;
    for (const loop of this.#loops.values()) loop.stop();
    this.#loops.clear();
  }
}
