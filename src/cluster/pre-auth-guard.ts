/**
 * Bounds what a peer that has not authenticated can make a node buffer.
 *
 * ws reads a whole message (up to its maxPayload: bleetMaxFrameMb) before
 * handing it on, and has no public way to lower that limit for one
 * connection until its peer is known (websockets/ws#1473 was declined). So
 * the raw bytes of a connection are watched ahead of ws, frame header by
 * frame header (RFC 6455 §5.2): the first `frames` data frames the peer sends
 * — its handshake (bleet-auth.ts: exactly a challenge and a proof) — must
 * each be whole (FIN set) and declare at most `maxFrameBytes`. The header of
 * the first one that does not ends the connection, so ws holds at most the
 * one chunk read from the socket that carried it. Once those frames passed,
 * the handshake has succeeded or failed on them and the watch ends: frames
 * after it are bounded by ws's maxPayload as before.
 *
 * Control frames (ping, pong, close) may come in between; they carry at most
 * 125 bytes and do not count. Pure: fed bytes, it says what it saw.
 */

export type GuardVerdict = { state: 'watching' } | { state: 'passed' } | { state: 'refused'; reason: string };

export interface PreAuthLimits {
  /** Data frames the peer sends before it is authenticated. */
  frames: number;
  /** Largest payload of each of them. */
  maxFrameBytes: number;
}

const MAX_HEADER_BYTES = 14; // 2 + 8 (64-bit length) + 4 (mask)
const MAX_CONTROL_PAYLOAD = 125;
const WATCHING: GuardVerdict = { state: 'watching' };
const PASSED: GuardVerdict = { state: 'passed' };

/** Bytes of a frame header whose first `have` bytes are in `header`; undefined until the second byte is there. */
function headerLength(header: Uint8Array, have: number): number | undefined {
  if (have < 2) return undefined;
  const len7 = header[1]! & 0x7f;
  const extended = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  const mask = (header[1]! & 0x80) !== 0 ? 4 : 0;
  return 2 + extended + mask;
}

function payloadLength(header: Uint8Array): number {
  const len7 = header[1]! & 0x7f;
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (len7 === 126) return view.getUint16(2);
  if (len7 === 127) return view.getUint32(2) * 2 ** 32 + view.getUint32(6);
  return len7;
}

export class PreAuthFrameGuard {
  readonly #limits: PreAuthLimits;
  readonly #header = new Uint8Array(MAX_HEADER_BYTES);
  #headerBytes = 0;
  /** Payload bytes of the current frame still to pass by. */
  #skip = 0;
  #dataFrames = 0;
  #verdict: GuardVerdict;

  constructor(limits: PreAuthLimits) {
    this.#limits = limits;
    this.#verdict = limits.frames <= 0 ? PASSED : WATCHING;
  }

  get verdict(): GuardVerdict {
    return this.#verdict;
  }

  /** Takes the next bytes the peer sent; once not `watching`, the verdict stays and further bytes are not looked at. */
  feed(chunk: Uint8Array): GuardVerdict {
    let i = 0;
    while (i < chunk.byteLength && this.#verdict.state === 'watching') {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.byteLength - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      this.#header[this.#headerBytes++] = chunk[i++]!;
      const need = headerLength(this.#header, this.#headerBytes);
      if (need === undefined || this.#headerBytes < need) continue;
      this.#verdict = this.#frame();
      this.#headerBytes = 0;
    }
    return this.#verdict;
  }

  /** Judges the frame whose header is complete; sets the payload to pass by. */
  #frame(): GuardVerdict {
    const fin = (this.#header[0]! & 0x80) !== 0;
    const opcode = this.#header[0]! & 0x0f;
    const length = payloadLength(this.#header);
    this.#skip = length;
    if (opcode >= 0x8 && opcode <= 0xa) {
      return length <= MAX_CONTROL_PAYLOAD ? WATCHING : refused(`a control frame of ${length} bytes`);
    }
    if (opcode !== 0x1 && opcode !== 0x2) return refused(opcode === 0 ? 'a continuation frame' : `a frame with reserved opcode ${opcode}`);
    if (!fin) return refused('a fragmented message');
    if (length > this.#limits.maxFrameBytes) {
      return refused(`a frame of ${length} bytes (at most ${this.#limits.maxFrameBytes} are read from a peer that is not authenticated)`);
    }
    this.#dataFrames++;
    return this.#dataFrames >= this.#limits.frames ? PASSED : WATCHING;
  }
}

function refused(what: string): GuardVerdict {
  return { state: 'refused', reason: `${what} before authentication` };
}
