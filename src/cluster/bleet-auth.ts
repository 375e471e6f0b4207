/**
 * Peer authentication of a bleet connection: before any bleet (even hello)
 * is read, both ends prove they know the cluster secret. The secret never
 * travels, only HMACs over fresh nonces.
 *
 *   both ends, at once:           challenge {t, v, nodeId, nonce}   nonce: 32 random bytes, new per connection
 *   on the peer's challenge:      proof {t, mac}
 *   on the peer's proof:          check it (timingSafeEqual) -> authenticated
 *
 *   mac = HMAC-SHA256(secret, LABEL | role of the prover | dialer id | listener id | dialer nonce | listener nonce)
 *
 * Why each part: the verifier's own fresh nonce makes a recorded handshake
 * useless on a new connection (replay); the prover's role (dialer or
 * listener) keeps a proof made by one end from being reflected back to it
 * (a node only ever proves as the role it has on that connection); the node
 * ids bind the proof to the ids the ends announced, and the peer's hello must
 * carry the same id (bleet-link.ts checks it).
 *
 * States: challenging (own challenge sent, waiting for the peer's) ->
 * proving (own proof sent, waiting for the peer's) -> done | failed. Any
 * other frame, an oversized one, a malformed one or a wrong proof fails the
 * handshake with GREX_ERR_BLEET_AUTH. Pure: no sockets, no clocks; the
 * caller does the IO (authenticated-transport.ts).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Packr } from 'msgpackr';
import { GrexError } from '../errors.js';

export type AuthRole = 'dialer' | 'listener';

export const AUTH_VERSION = 1;
export const NONCE_BYTES = 32;
const MAC_BYTES = 32;
const LABEL = 'grex-bleet-auth-v1';
/** A handshake frame is a few dozen bytes; anything much larger is not one. */
export const MAX_AUTH_FRAME_BYTES = 512;
/** Frames each end sends before the other knows whether it is authenticated: its challenge and its proof. */
export const HANDSHAKE_FRAMES = 2;
const NODE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

export type AuthFrame =
  | { t: 'challenge'; v: number; nodeId: string; nonce: Uint8Array }
  | { t: 'proof'; mac: Uint8Array };

const codec = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeAuthFrame(frame: AuthFrame): Uint8Array {
  return codec.pack(frame);
}

function refused(message: string): GrexError {
  return new GrexError('GREX_ERR_BLEET_AUTH', message);
}

/** Decodes one handshake frame; throws GREX_ERR_BLEET_AUTH for anything else. */
export function decodeAuthFrame(bytes: Uint8Array): AuthFrame {
  if (bytes.byteLength > MAX_AUTH_FRAME_BYTES) throw refused(`a ${bytes.byteLength}-byte frame during authentication`);
  let value: unknown;
  try {
    value = codec.unpack(bytes);
  } catch {
    throw refused('a frame that is not msgpack during authentication');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refused('a frame that is not a map during authentication');
  const o = value as Record<string, unknown>;
  if (o.t === 'challenge') {
    if (o.v !== AUTH_VERSION) throw refused(`authentication version ${String(o.v)}; this node speaks ${AUTH_VERSION}`);
    if (typeof o.nodeId !== 'string' || !NODE_ID.test(o.nodeId)) throw refused('a challenge without a valid node id');
    if (!(o.nonce instanceof Uint8Array) || o.nonce.byteLength !== NONCE_BYTES) throw refused(`a challenge without a ${NONCE_BYTES}-byte nonce`);
    return { t: 'challenge', v: o.v, nodeId: o.nodeId, nonce: o.nonce };
  }
  if (o.t === 'proof') {
    if (!(o.mac instanceof Uint8Array) || o.mac.byteLength !== MAC_BYTES) throw refused(`a proof without a ${MAC_BYTES}-byte mac`);
    return { t: 'proof', mac: o.mac };
  }
  const hint = o.t === 'hello' ? ' (is the peer started without the cluster secret?)' : '';
  throw refused(`a ${JSON.stringify(String(o.t)).slice(0, 40)} frame before authenticating${hint}`);
}

/** Length-prefixed parts, so no two different transcripts share bytes. */
function transcript(parts: readonly (string | Uint8Array)[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part.buffer, part.byteOffset, part.byteLength);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.byteLength);
    chunks.push(length, bytes);
  }
  return Buffer.concat(chunks);
}

export interface ProofInput {
  prover: AuthRole;
  dialerId: string;
  listenerId: string;
  dialerNonce: Uint8Array;
  listenerNonce: Uint8Array;
}

/** The mac a `prover` sends on a connection with these ids and nonces. */
export function computeProof(secret: string | Uint8Array, input: ProofInput): Buffer {
  return createHmac('sha256', secret)
    .update(transcript([LABEL, input.prover, input.dialerId, input.listenerId, input.dialerNonce, input.listenerNonce]))
    .digest();
}

export interface HandshakeOptions {
  secret: string | Uint8Array;
  selfId: string;
  role: AuthRole;
  /** This end's nonce; fresh random bytes unless a test fixes it. */
  nonce?: Uint8Array;
}

export interface HandshakeStep {
  /** A frame to send to the peer now. */
  send?: Uint8Array;
  /** Set once the peer proved it knows the secret: its node id. */
  authenticated?: string;
}

type State = 'challenging' | 'proving' | 'done' | 'failed';

export class BleetHandshake {
  readonly #secret: string | Uint8Array;
  readonly #selfId: string;
  readonly #role: AuthRole;
  readonly #nonce: Uint8Array;
  #state: State = 'challenging';
  #peerId = '';
  #peerNonce: Uint8Array = new Uint8Array(0);

  constructor(options: HandshakeOptions) {
    this.#secret = options.secret;
    this.#selfId = options.selfId;
    this.#role = options.role;
    this.#nonce = options.nonce ?? randomBytes(NONCE_BYTES);
    if (this.#nonce.byteLength !== NONCE_BYTES) throw new TypeError(`a nonce has ${NONCE_BYTES} bytes`);
  }

  get state(): State {
    return this.#state;
  }

  /** The challenge to send as the first frame of the connection. */
  challenge(): Uint8Array {
    return encodeAuthFrame({ t: 'challenge', v: AUTH_VERSION, nodeId: this.#selfId, nonce: this.#nonce });
  }

  #proofBy(prover: AuthRole): Buffer {
    const dialerIsSelf = this.#role === 'dialer';
    return computeProof(this.#secret, {
      prover,
      dialerId: dialerIsSelf ? this.#selfId : this.#peerId,
      listenerId: dialerIsSelf ? this.#peerId : this.#selfId,
      dialerNonce: dialerIsSelf ? this.#nonce : this.#peerNonce,
      listenerNonce: dialerIsSelf ? this.#peerNonce : this.#nonce,
    });
  }

  /** Takes one frame from the peer; throws GREX_ERR_BLEET_AUTH (and stays failed) if it is not the expected one. */
  receive(bytes: Uint8Array): HandshakeStep {
    try {
      return this.#receive(bytes);
    } catch (err) {
      this.#state = 'failed';
      throw err;
    }
  }

  #receive(bytes: Uint8Array): HandshakeStep {
    if (this.#state === 'done' || this.#state === 'failed') throw refused(`handshake already ${this.#state}`);
    const frame = decodeAuthFrame(bytes);
    if (this.#state === 'challenging') {
      if (frame.t !== 'challenge') throw refused('a proof before its challenge');
      this.#peerId = frame.nodeId;
      this.#peerNonce = frame.nonce;
      this.#state = 'proving';
      return { send: encodeAuthFrame({ t: 'proof', mac: this.#proofBy(this.#role) }) };
    }
    if (frame.t !== 'proof') throw refused('a second challenge');
    const expected = this.#proofBy(this.#role === 'dialer' ? 'listener' : 'dialer');
    if (!timingSafeEqual(expected, frame.mac)) throw refused(`${this.#peerId} does not know the cluster secret (wrong proof)`);
    this.#state = 'done';
    return { authenticated: this.#peerId };
  }
}
