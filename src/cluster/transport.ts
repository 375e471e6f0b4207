/**
 * The transport seam: how bleet frames travel between nodes. The ws
 * implementation is what nodes use; the in-memory one lets protocol tests run
 * many nodes in one process (and cut links between them).
 *
 * A transport moves whole frames and knows nothing of their content.
 */

export interface FrameSocket {
  /** Queues a frame; false if the socket is already closed. */
  send(frame: Uint8Array): boolean;
  /** Bytes queued and not yet handed to the network: senders refuse to queue past a limit. */
  readonly bufferedBytes: number;
  /** Sets the frame handler; frames that arrived before it are delivered to it first. */
  onFrame(handler: (frame: Uint8Array) => void): void;
  /** Adds a handler called once when the socket closes for any reason (at once if it already has). */
  onClose(handler: (reason: string) => void): void;
  close(reason: string): void;
  /** Who is at the other end, for logs. */
  readonly remote: string;
}

export interface Transport {
  /** Starts accepting connections; resolves with the URL peers dial. */
  listen(onSocket: (socket: FrameSocket) => void): Promise<string>;
  /** Opens a connection to a peer's URL. */
  dial(url: string): Promise<FrameSocket>;
  /** Stops listening and closes every socket. */
  close(): Promise<void>;
}
