// The pre-authentication frame guard (src/cluster/pre-auth-guard.ts) on raw
// WebSocket bytes: the handshake frames pass (masked or not, with control
// frames between them, however the bytes are cut into chunks) and after them
// anything passes; a first frame that declares more than the limit (7-, 16-
// or 64-bit length), a fragmented one, a continuation, a reserved opcode or an
// oversized control frame is refused at its header, before its payload came.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PreAuthFrameGuard, type GuardVerdict } from '../../../src/cluster/pre-auth-guard.js';

const LIMITS = { frames: 2, maxFrameBytes: 512 };

interface FrameSpec {
  opcode?: number;
  fin?: boolean;
  masked?: boolean;
  /** Declared payload length; the payload itself is `payload` bytes long (default: all of it). */
  length: number;
  payload?: number;
}

/** The bytes of one frame as RFC 6455 §5.2 lays them out. */
function frame({ opcode = 2, fin = true, masked = true, length, payload = length }: FrameSpec): Buffer {
  const parts: Buffer[] = [];
  const first = (fin ? 0x80 : 0) | opcode;
  const maskBit = masked ? 0x80 : 0;
  if (length < 126) parts.push(Buffer.from([first, maskBit | length]));
  else if (length < 65536) {
    const header = Buffer.alloc(4);
    header[0] = first;
    header[1] = maskBit | 126;
    header.writeUInt16BE(length, 2);
    parts.push(header);
  } else {
    const header = Buffer.alloc(10);
    header[0] = first;
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
    parts.push(header);
  }
  if (masked) parts.push(Buffer.from([1, 2, 3, 4]));
  parts.push(Buffer.alloc(payload, 7));
  return Buffer.concat(parts);
}

function feedAll(guard: PreAuthFrameGuard, bytes: Buffer, chunk: number): GuardVerdict {
  let verdict = guard.verdict;
  for (let i = 0; i < bytes.byteLength; i += chunk) verdict = guard.feed(bytes.subarray(i, i + chunk));
  return verdict;
}

describe('pre-authentication frame guard', () => {
  test('the handshake frames pass in any chunking, masked or not, with control frames between', () => {
    const stream = Buffer.concat([
      frame({ length: 70 }),
      frame({ opcode: 0x9, length: 4 }), // ping
      frame({ length: 512 }),
      frame({ length: 100_000 }), // after the handshake: not the guard's business
    ]);
    for (const chunk of [1, 2, 3, 7, 64, stream.byteLength]) {
      for (const masked of [true, false]) {
        const bytes = masked ? stream : Buffer.concat([frame({ length: 70, masked }), frame({ length: 512, masked }), frame({ length: 100_000, masked })]);
        const guard = new PreAuthFrameGuard(LIMITS);
        assert.deepEqual(feedAll(guard, bytes, chunk), { state: 'passed' }, `chunks of ${chunk}, masked ${masked}`);
      }
    }
  });

  test('watches until the last handshake frame header came', () => {
    const guard = new PreAuthFrameGuard(LIMITS);
    assert.deepEqual(guard.feed(frame({ length: 60 })), { state: 'watching' });
    const second = frame({ length: 300, payload: 0 });
    assert.deepEqual(guard.feed(second.subarray(0, 3)), { state: 'watching' }, 'a partial header');
    assert.deepEqual(guard.feed(second.subarray(3)), { state: 'passed' });
    assert.deepEqual(guard.feed(frame({ length: 1_000_000, payload: 10 })), { state: 'passed' }, 'the verdict stays');
  });

  test('a first frame larger than the limit is refused at its header, in each length form', () => {
    for (const length of [513, 65_535, 8 * 1024 * 1024, 2 ** 40]) {
      const guard = new PreAuthFrameGuard(LIMITS);
      const header = frame({ length, payload: 0 });
      const verdict = guard.feed(header);
      assert.equal(verdict.state, 'refused', `${length}`);
      assert.match((verdict as { reason: string }).reason, new RegExp(`^a frame of ${length} bytes \\(at most 512 .*\\) before authentication$`));
    }
  });

  test('a large second frame is refused too', () => {
    const guard = new PreAuthFrameGuard(LIMITS);
    const verdict = guard.feed(Buffer.concat([frame({ length: 80 }), frame({ length: 8 * 1024 * 1024, payload: 100 })]));
    assert.equal(verdict.state, 'refused');
  });

  test('fragments, continuations, reserved opcodes and oversized control frames are refused', () => {
    const cases: [Buffer, RegExp][] = [
      [frame({ fin: false, length: 10 }), /^a fragmented message before authentication$/],
      [frame({ opcode: 0, length: 10 }), /^a continuation frame before authentication$/],
      [frame({ opcode: 0x3, length: 10 }), /^a frame with reserved opcode 3 before authentication$/],
      [frame({ opcode: 0x9, length: 126, payload: 0 }), /^a control frame of 126 bytes before authentication$/],
    ];
    for (const [bytes, reason] of cases) {
      const verdict = new PreAuthFrameGuard(LIMITS).feed(bytes);
      assert.equal(verdict.state, 'refused');
      assert.match((verdict as { reason: string }).reason, reason);
    }
  });

  test('no handshake frames: passed from the start', () => {
    assert.deepEqual(new PreAuthFrameGuard({ frames: 0, maxFrameBytes: 0 }).verdict, { state: 'passed' });
  });
});
