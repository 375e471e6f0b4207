// Keys and job names: FNV-1a 32 (published vectors, string == UTF-8 bytes),
// the bucket -> flock hash, flock counts, key validation and job-name validation.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GrexError, type ErrorCode } from '../../src/errors.js';
import {
  assertBucketKey,
  assertItemKey,
  assertJobName,
  flockOf,
  fnv1a32,
  fnv1a32Bytes,
  isJobName,
  isValidFlockCount,
  keyProblem,
  KEY_MAX_BYTES,
  MAX_FLOCKS,
} from '../../src/keys.js';
import { CODE_POINT_RANGES, prng } from '../helpers/prng.js';

function grexError(code: ErrorCode) {
  return (err: unknown): true => {
    assert.ok(err instanceof GrexError, `expected a GrexError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}


// From the FNV reference test suite (test_fnv.c, fnv1a_32_vector).
const FNV1A_32_VECTORS: ReadonlyArray<readonly [string, number]> = [
  ['', 0x811c9dc5],
  ['a', 0xe40c292c],
  ['b', 0xe70c2de5],
  ['c', 0xe60c2c52],
  ['fo', 0x6222e842],
  ['foo', 0xa9f37ed7],
  ['foob', 0x3f5076ef],
  ['fooba', 0x39aaa18a],
  ['foobar', 0xbf9cf968],
  ['\0', 0x050c5d1f],
  ['a\0', 0x2b24d044],
  ['ch', 0x5f299f4e],
  ['chongo', 0xbd564e7d],
  ['chongo was here!', 0x448524fd],
  ['chongo was here!\n', 0xd49930d5],
  ['64.81.78.84', 0xa55b89ed],
  ['feedfacedaffdeed', 0xe83641e1],
  ['http://www.fourmilab.ch/gravitation/orbits/', 0x29b50b38],
];

describe('fnv1a32', () => {
  for (const [input, expected] of FNV1A_32_VECTORS) {
    test(`hashes ${JSON.stringify(input)} to the published 0x${expected.toString(16).padStart(8, '0')}`, () => {
      assert.equal(fnv1a32(input), expected);
      assert.equal(fnv1a32Bytes(Buffer.from(input, 'utf8')), expected);
    });
  }

  test('the bytes cc 24 31 c4 hash to zero (the published FNV-1a 32 zero-hash vector)', () => {
    assert.equal(fnv1a32Bytes(Uint8Array.from([0xcc, 0x24, 0x31, 0xc4])), 0);
  });

  test('hashes are unsigned 32-bit integers', () => {
    for (const text of ['', 'a', 'foobar', '😀', 'x'.repeat(300)]) {
      const hash = fnv1a32(text);
      assert.ok(Number.isInteger(hash) && hash >= 0 && hash <= 0xffffffff, `${text}: ${hash}`);
    }
  });

  test('hashing a view of a larger buffer hashes only the view', () => {
    const whole = Buffer.from('xxfoobarxx');
    assert.equal(fnv1a32Bytes(whole.subarray(2, 8)), 0xbf9cf968);
  });

  const utf8Cases: ReadonlyArray<readonly [string, string]> = [
    ['ASCII', 'hello, world ~!'],
    ['controls', '\x01\x1f\x7f'],
    ['two-byte UTF-8 boundaries', '\u0080\u00ff\u07ff'],
    ['Latin text', 'naïve café ß'],
    ['three-byte UTF-8 boundaries', '\u0800\u0fff\ud7ff\ue000\ufffd\uffff'],
    ['CJK', '中文键'],
    ['an emoji (astral, surrogate pair)', '😀'],
    ['astral boundaries', '\u{10000}\u{10ffff}'],
    ['mixed scripts and emoji', 'a😀bé中\u{1f468}\u200d\u{1f469}z'],
  ];
  for (const [what, text] of utf8Cases) {
    test(`the hash of a string equals the hash of its UTF-8 bytes: ${what}`, () => {
      assert.equal(fnv1a32(text), fnv1a32Bytes(Buffer.from(text, 'utf8')));
    });
  }

  test('lone surrogates hash like their UTF-8 encoding by Buffer.from (U+FFFD)', () => {
    for (const text of ['\ud800', '\udfff', 'a\udc00b', 'end\ud83d', '\ud83d\ud83d\ude00', '\ude00\ud83d']) {
      assert.equal(fnv1a32(text), fnv1a32Bytes(Buffer.from(text, 'utf8')), JSON.stringify(text));
    }
  });

  test('the hash of a string equals the hash of its UTF-8 bytes for 2000 seeded random strings', () => {
    const random = prng(0x5eed);
    const ranges = CODE_POINT_RANGES;
    for (let n = 0; n < 2000; n++) {
      let text = '';
      const length = 1 + Math.floor(random() * 20);
      for (let i = 0; i < length; i++) {
        const [lo, hi] = ranges[Math.floor(random() * ranges.length)]!;
        text += String.fromCodePoint(lo + Math.floor(random() * (hi - lo + 1)));
      }
      assert.equal(fnv1a32(text), fnv1a32Bytes(Buffer.from(text, 'utf8')), JSON.stringify(text));
    }
  });
});

describe('flockOf', () => {
  const keys = ['', 'a', 'foobar', 'users/42', 'A', 'é', '😀', 'x'.repeat(256)];

  test('takes the low bits of the FNV-1a hash', () => {
    assert.equal(flockOf('foobar', 1024), 0xbf9cf968 & 1023);
    assert.equal(flockOf('foobar', 1024), 0x168);
    assert.equal(flockOf('a', 16), 0xc);
    assert.equal(flockOf('fooba', 1 << 20), 0x39aaa18a & 0xfffff);
  });

  for (const flocks of [1, 2, 8, 1024, 4096, MAX_FLOCKS]) {
    test(`with ${flocks} flocks is fnv1a32(key) & (flocks - 1) and stays in [0, ${flocks})`, () => {
      for (const key of keys) {
        const flock = flockOf(key, flocks);
        assert.equal(flock, fnv1a32(key) & (flocks - 1), key);
        assert.ok(Number.isInteger(flock) && flock >= 0 && flock < flocks, `${key}: ${flock}`);
      }
    });
  }

  test('spreads many keys over every flock of a small power of two', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(flockOf(`bucket-${i}`, 16));
    assert.equal(seen.size, 16);
  });
});

describe('isValidFlockCount', () => {
  test('accepts powers of two from 1 to MAX_FLOCKS', () => {
    for (let flocks = 1; flocks <= MAX_FLOCKS; flocks *= 2) assert.equal(isValidFlockCount(flocks), true, String(flocks));
  });

  test('refuses zero, negatives, non-powers of two, fractions, non-finite values and counts above MAX_FLOCKS', () => {
    for (const flocks of [0, -1, -2, 3, 6, 1000, 1023, 1025, 1.5, 0.5, NaN, Infinity, -Infinity, MAX_FLOCKS * 2, 2 ** 31, 2 ** 32]) {
      assert.equal(isValidFlockCount(flocks), false, String(flocks));
    }
  });
});

describe('key validation', () => {
  const valid: ReadonlyArray<readonly [string, string]> = [
    ['one ASCII byte', 'a'],
    ['a path-like key', '../../etc/passwd'],
    ['spaces and punctuation', ' a b %41 ~ '],
    ['256 ASCII bytes', 'x'.repeat(256)],
    ['256 bytes of two-byte characters', 'é'.repeat(128)],
    ['256 bytes of three-byte characters and ASCII', '中'.repeat(85) + 'a'],
    ['256 bytes of four-byte characters', '😀'.repeat(64)],
  ];
  for (const [what, key] of valid) {
    test(`accepts ${what}`, () => {
      assert.equal(Buffer.byteLength(key, 'utf8') <= KEY_MAX_BYTES, true);
      assert.equal(keyProblem(key), null);
      assertBucketKey(key);
      assertItemKey(key);
    });
  }

  const invalid: ReadonlyArray<readonly [string, unknown]> = [
    ['the empty string', ''],
    ['a NUL character', 'a\0b'],
    ['only NUL', '\0'],
    ['257 ASCII bytes', 'x'.repeat(257)],
    ['257 bytes in only 129 characters', 'é'.repeat(128) + 'a'],
    ['258 bytes of three-byte characters', '中'.repeat(86)],
    ['257 bytes in 129 UTF-16 units (emoji)', '😀'.repeat(64) + 'a'],
    ['a lone high surrogate', '\ud800'],
    ['a lone low surrogate', 'a\udc00b'],
    ['a high surrogate cut off at the end', 'key\ud83d'],
    ['swapped surrogates', '\ude00\ud83d'],
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a boxed string', new String('a')],
    ['an array', ['a']],
    ['a buffer', Buffer.from('a')],
  ];
  for (const [what, key] of invalid) {
    test(`refuses ${what} with GREX_ERR_KEY_INVALID`, () => {
      assert.equal(typeof keyProblem(key), 'string');
      assert.throws(() => assertBucketKey(key), grexError('GREX_ERR_KEY_INVALID'));
      assert.throws(() => assertItemKey(key), grexError('GREX_ERR_KEY_INVALID'));
    });
  }

  test('the refusal names which key is wrong and maps to HTTP 400, not retryable', () => {
    assert.throws(
      () => assertBucketKey(''),
      (err: unknown) => {
        assert.ok(err instanceof GrexError);
        assert.match(err.message, /bucketKey/);
        assert.equal(err.status, 400);
        assert.equal(err.retryable, false);
        return true;
      },
    );
    assert.throws(() => assertItemKey('a\0'), (err: unknown) => err instanceof GrexError && /itemKey/.test(err.message));
  });
});

describe('job names', () => {
  const good = ['a', '0', 'send-email', 'resize_image', 'a1-b2_c3', 'x'.repeat(64), '9lives'];
  const bad: unknown[] = ['', 'A', 'Send', '-a', '_a', 'a b', 'a.b', 'a/b', '../a', 'x'.repeat(65), 'é', 'a\n', '\na', 42, null, undefined, ['a']];

  test('names of lower-case letters, digits, "_" and "-" (at most 64, not starting with "_" or "-") are job names', () => {
    for (const name of good) {
      assert.equal(isJobName(name), true, name);
      assertJobName(name);
    }
  });

  test('anything else is refused with GREX_ERR_JOB_NAME_INVALID', () => {
    for (const name of bad) {
      assert.equal(isJobName(name), false, String(name));
      assert.throws(() => assertJobName(name), grexError('GREX_ERR_JOB_NAME_INVALID'), String(name));
    }
  });
});
