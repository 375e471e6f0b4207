/**
 * An in-memory transport: many nodes in one process, frames delivered
 * asynchronously and in order, with knobs to cut and restore links between
 * nodes (a partition) for protocol tests.
 */
import { seededRandom } from './seeded-random.js';
import { FrameSocketBase, messagesOf, type FrameSocket, type Outgoing, type Transport } from './transport.js';

export interface NetworkFaults {
  /** Chance that a frame is lost (its link stays up, like a message lost in a broken peer). */
  dropRate?: number;
  /** Each frame is delayed by a random time in this range (order on a link is kept). */
  delayMs?: [number, number];
  /** Seed of the fault decisions, so a failing run can be replayed. */
  seed?: number;
}

/** The shared wire of in-memory transports. */
export class MemoryNetwork {
  readonly #listeners = new Map<string, (socket: FrameSocket) => void>();
  readonly #cut = new Set<string>();
  readonly #sockets = new Set<MemorySocket>();
  #next = 1;
  #dropRate = 0;
  #delay: [number, number] = [0, 0];
  #random: () => number = Math.random;

  /** Loses and delays frames from now on (call with {} to stop). */
  setFaults(faults: NetworkFaults): void {
    this.#dropRate = faults.dropRate ?? 0;
    this.#delay = faults.delayMs ?? [0, 0];
    this.#random = seededRandom(faults.seed ?? 1);
  }

  /** @internal decides the fate of one frame: undefined to drop it, else its delay in ms. */
  fate(): number | undefined {
    if (this.#dropRate > 0 && this.#random() < this.#dropRate) return undefined;
    const [min, max] = this.#delay;
    return max <= 0 ? 0 : min + this.#random() * (max - min);
  }

  newAddress(): string {
    return `mem://node-${this.#next++}`;
  }

  /** @internal */
  register(url: string, onSocket: (socket: FrameSocket) => void): void {
    this.#listeners.set(url, onSocket);
  }

  /** @internal */
  unregister(url: string): void {
    this.#listeners.delete(url);
    for (const socket of [...this.#sockets]) if (socket.localUrl === url || socket.peerUrl === url) socket.close('node gone');
  }

  /** @internal */
  connect(from: string, to: string): FrameSocket {
    const accept = this.#listeners.get(to);
    if (accept === undefined || this.isCut(from, to)) throw Object.assign(new Error(`connect ECONNREFUSED ${to}`), { code: 'ECONNREFUSED' });
    const a = new MemorySocket(this, from, to);
    const b = new MemorySocket(this, to, from);
    a.other = b;
    b.other = a;
    this.#sockets.add(a);
    this.#sockets.add(b);
    queueMicrotask(() => accept(b));
    return a;
  }

  /** @internal */
  forget(socket: MemorySocket): void {
    this.#sockets.delete(socket);
  }

  isCut(a: string, b: string): boolean {
    return this.#cut.has(`${a}|${b}`) || this.#cut.has(`${b}|${a}`);
  }

  /** Cuts the link between two nodes: open sockets close and new ones are refused. */
  partition(a: string, b: string): void {
    this.#cut.add(`${a}|${b}`);
    for (const socket of [...this.#sockets]) {
      if ((socket.localUrl === a && socket.peerUrl === b) || (socket.localUrl === b && socket.peerUrl === a)) socket.close('partitioned');
    }
  }

  heal(a: string, b: string): void {
    this.#cut.delete(`${a}|${b}`);
    this.#cut.delete(`${b}|${a}`);
  }
}

class MemorySocket extends FrameSocketBase {
  readonly localUrl: string;
  readonly peerUrl: string;
  other: MemorySocket | null = null;
  readonly #network: MemoryNetwork;
  #queued = 0;
  #lastDelivery = 0;

  constructor(network: MemoryNetwork, localUrl: string, peerUrl: string) {
    super();
    this.#network = network;
    this.localUrl = localUrl;
    this.peerUrl = peerUrl;
  }

  get remote(): string {
    return this.peerUrl;
  }

  get bufferedBytes(): number {
    return this.#queued;
  }

  send(frame: Outgoing): boolean {
    if (this.isClosed) return false;
    const delay = this.#network.fate();
    if (delay === undefined) return true; // lost on the way (a bleet's messages all together)
    const copies = messagesOf(frame).map((message) => new Uint8Array(message));
    const bytes = copies.reduce((sum, copy) => sum + copy.byteLength, 0);
    this.#queued += bytes;
    const deliver = () => {
      this.#queued -= bytes;
      for (const copy of copies) if (!this.isClosed) this.other?.deliver(copy);
    };
    if (delay <= 0 && this.#lastDelivery <= Date.now()) {
      setImmediate(deliver);
      return true;
    }
    // Delayed, but never before a frame sent earlier on this link.
    const at = Math.max(Date.now() + delay, this.#lastDelivery);
    this.#lastDelivery = at;
    setTimeout(deliver, at - Date.now());
    return true;
  }

  deliver(frame: Uint8Array): void {
    this.receive(frame);
  }

  close(reason: string): void {
    if (!this.markClosed(reason)) return;
    this.#network.forget(this);
    const other = this.other;
    if (other !== null) setImmediate(() => other.close(`peer closed: ${reason}`));
  }
}

export class MemoryTransport implements Transport {
  readonly url: string;
  readonly #network: MemoryNetwork;

  constructor(network: MemoryNetwork, url = network.newAddress()) {
    this.#network = network;
    this.url = url;
  }

  async listen(onSocket: (socket: FrameSocket) => void): Promise<string> {
    this.#network.register(this.url, onSocket);
    return this.url;
  }

  async dial(url: string): Promise<FrameSocket> {
    return this.#network.connect(this.url, url);
  }

  async close(): Promise<void> {
    this.#network.unregister(this.url);
  }
}
