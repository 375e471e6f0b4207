/**
 * The transport seam: how bleet frames travel between nodes. The ws
 * implementation is what nodes use; the in-memory one lets protocol tests run
 * many nodes in one process (and cut links between them).
 *
 * A transport moves whole frames and knows nothing of their content.
 */

/**
 * What one send carries: a frame, or the messages of one bleet (its frame and
 * its attachments, bleet-messages.ts), which go back to back, in order, with
 * nothing in between; a transport that loses messages loses all or none.
 */
export type Outgoing = Uint8Array | readonly Uint8Array[];

/** The messages of an outgoing send, as a list. */
export function messagesOf(outgoing: Outgoing): readonly Uint8Array[] {
  return outgoing instanceof Uint8Array ? [outgoing] : outgoing;
}

export interface FrameSocket {
  /** Queues a frame (or a bleet's messages); false if the socket is already closed. */
  send(frame: Outgoing): boolean;
  /** Bytes queued and not yet handed to the network: senders refuse to queue past a limit. */
  readonly bufferedBytes: number;
  /** Sets the frame handler; frames that arrived before it are delivered to it first. */
  onFrame(handler: (frame: Uint8Array) => void): void;
  /** Adds a handler called once when the socket closes for any reason (at once if it already has). */
  onClose(handler: (reason: string) => void): void;
  close(reason: string): void;
  /** Who is at the other end, for logs. */
  readonly remote: string;
  /** The node id the peer proved with the cluster secret (authenticated-transport.ts); its hello must match. */
  readonly authenticatedAs?: string;
}

export interface Transport {
  /** Starts accepting connections; resolves with the URL peers dial. */
  listen(onSocket: (socket: FrameSocket) => void): Promise<string>;
  /** Opens a connection to a peer's URL. */
  dial(url: string): Promise<FrameSocket>;
  /** Stops listening and closes every socket. */
  close(): Promise<void>;
}

/**
 * The bookkeeping every FrameSocket needs: frames that arrive before a
 * handler is set are kept and handed to it (a peer's hello can beat the
 * receiver's setup), close handlers run once, also when added late.
 */
export abstract class FrameSocketBase implements FrameSocket {
  abstract readonly remote: string;
  abstract readonly bufferedBytes: number;
  abstract send(frame: Outgoing): boolean;
  abstract close(reason: string): void;
  #frameHandler: ((frame: Uint8Array) => void) | null = null;
  #early: Uint8Array[] = [];
  readonly #closeHandlers: ((reason: string) => void)[] = [];
  #closedReason: string | null = null;

  protected get isClosed(): boolean {
    return this.#closedReason !== null;
  }

  /** A frame arrived from the peer. */
  protected receive(frame: Uint8Array): void {
    if (this.isClosed) return;
    if (this.#frameHandler === null) this.#early.push(frame);
    else this.#frameHandler(frame);
  }

  /** Marks the socket closed and tells every close handler; false if it already was. */
  protected markClosed(reason: string): boolean {
    if (this.isClosed) return false;
    this.#closedReason = reason;
    for (const handler of this.#closeHandlers) handler(reason);
    return true;
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.#frameHandler = handler;
    const early = this.#early;
    this.#early = [];
    for (const frame of early) handler(frame);
  }

  onClose(handler: (reason: string) => void): void {
    if (this.#closedReason !== null) handler(this.#closedReason);
    else this.#closeHandlers.push(handler);
  }
}
