// Key -> file-name encoding (src/store/key-names.ts): round trips for every key
// shape and for seeded random keys, names that are safe in one folder (no "/",
// NUL, ".", "..", leading "." or case clashes), hashed names for long keys,
// and decodeKeyName refusing every name the encoding never produces.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { KEY_MAX_BYTES } from '../../../src/keys.js';
import { decodeKeyName, encodeKeyName, isHashedName, NAME_MAX_CHARS } from '../../../src/store/key-names.js';
import { KEY_SHAPES } from './backend-contract.js';
import { CODE_POINT_RANGES, prng } from '../../helpers/prng.js';


/** Valid keys (1–256 bytes of UTF-8, no NUL), mixing ASCII that needs escaping, plain bytes and any Unicode. */
function randomKeys(count: number, seed: number): string[] {
  const random = prng(seed);
  const asciiPool = 'abcxyz019_-.ABCXYZ/%~ \\:*?"<>|\t\x01\x7f';
  const ranges = CODE_POINT_RANGES;
  const keys: string[] = [];
  while (keys.length < count) {
    const targetBytes = 1 + Math.floor(random() * KEY_MAX_BYTES);
    const unicode = random() < 0.5;
    let key = '';
    for (;;) {
      let ch: string;
      if (unicode) {
        const [lo, hi] = ranges[Math.floor(random() * ranges.length)]!;
        ch = String.fromCodePoint(lo + Math.floor(random() * (hi - lo + 1)));
      } else {
        ch = asciiPool[Math.floor(random() * asciiPool.length)]!;
      }
      if (Buffer.byteLength(key + ch, 'utf8') > targetBytes) break;
      key += ch;
    }
    if (key.length > 0) keys.push(key);
  }
  return keys;
}

const PLAIN_NAME = /^(?:[a-z0-9_-]|%[0-9A-F]{2})(?:[a-z0-9_.-]|%[0-9A-F]{2})*$/;
const HASHED_NAME = /^~[0-9a-f]{64}$/;

function assertSafeName(key: string, name: string): void {
  const what = `${JSON.stringify(key)} -> ${JSON.stringify(name)}`;
  assert.ok(name.length > 0 && name.length <= NAME_MAX_CHARS, `length: ${what}`);
  assert.ok(!name.includes('/') && !name.includes('\\') && !name.includes('\0'), `separator or NUL: ${what}`);
  assert.ok(name !== '.' && name !== '..' && !name.startsWith('.'), `dot name: ${what}`);
  assert.ok(PLAIN_NAME.test(name) || HASHED_NAME.test(name), `characters: ${what}`);
}

function assertRoundTrip(key: string): void {
  const name = encodeKeyName(key);
  assertSafeName(key, name);
  if (isHashedName(name)) {
    assert.equal(name, '~' + createHash('sha256').update(key, 'utf8').digest('hex'), JSON.stringify(key));
    assert.equal(decodeKeyName(name), null);
  } else {
    assert.equal(decodeKeyName(name), key, JSON.stringify(key));
  }
}

describe('encodeKeyName / decodeKeyName', () => {
  for (const key of KEY_SHAPES) {
    test(`${JSON.stringify(key.length > 40 ? key.slice(0, 20) + `…(${Buffer.byteLength(key)} bytes)` : key)} maps to a safe name that decodes back (or is hashed)`, () => {
      assertRoundTrip(key);
    });
  }

  test('5000 seeded random keys map to safe names that decode back (or are hashed)', () => {
    for (const key of randomKeys(5000, 20240611)) assertRoundTrip(key);
  });

  test('distinct keys get distinct names, even on a case-insensitive filesystem', () => {
    const keys = [...new Set([...KEY_SHAPES, ...randomKeys(5000, 77)])];
    const byName = new Map<string, string>();
    for (const key of keys) {
      const folded = encodeKeyName(key).toLowerCase();
      const other = byName.get(folded);
      assert.equal(other, undefined, `${JSON.stringify(key)} and ${JSON.stringify(other)} share the name ${folded}`);
      byName.set(folded, key);
    }
  });

  test('"A" and "a" map to different names', () => {
    assert.notEqual(encodeKeyName('A'), encodeKeyName('a'));
    assert.notEqual(encodeKeyName('A').toLowerCase(), encodeKeyName('a').toLowerCase());
    assert.equal(encodeKeyName('a'), 'a');
    assert.equal(encodeKeyName('A'), '%41');
  });

  test('only lower-case letters, digits, "_", "-" and a non-leading "." stay as they are', () => {
    assert.equal(encodeKeyName('abc-xyz_019.txt'), 'abc-xyz_019.txt');
    assert.equal(encodeKeyName('.'), '%2E');
    assert.equal(encodeKeyName('..'), '%2E.');
    assert.equal(encodeKeyName('.hidden'), '%2Ehidden');
    assert.equal(encodeKeyName('/'), '%2F');
    assert.equal(encodeKeyName('../../etc/passwd'), '%2E.%2F..%2Fetc%2Fpasswd'); // one path component: inner dots are harmless
    assert.equal(encodeKeyName('%'), '%25');
    assert.equal(encodeKeyName('%41'), '%2541');
    assert.equal(encodeKeyName('~x'), '%7Ex');
    assert.equal(encodeKeyName('a b'), 'a%20b');
    assert.equal(encodeKeyName('é'), '%C3%A9');
    assert.equal(encodeKeyName('😀'), '%F0%9F%98%80');
    assert.equal(encodeKeyName('a\0b'), 'a%00b');
  });

  test('names of up to 200 characters stay readable; longer ones become "~" + sha256 of the key', () => {
    assert.equal(encodeKeyName('a'.repeat(200)), 'a'.repeat(200));
    assert.equal(encodeKeyName('a'.repeat(197) + 'A'), 'a'.repeat(197) + '%41');
    assert.match(encodeKeyName('a'.repeat(201)), HASHED_NAME);
    assert.match(encodeKeyName('a'.repeat(198) + 'A'), HASHED_NAME);
    assert.equal(encodeKeyName('A'.repeat(66)).length, 198);
    assert.match(encodeKeyName('A'.repeat(67)), HASHED_NAME);
    for (const key of ['x'.repeat(256), 'é'.repeat(128), '😀'.repeat(64), '中'.repeat(85) + 'a']) {
      assert.equal(Buffer.byteLength(key), 256);
      const name = encodeKeyName(key);
      assert.match(name, HASHED_NAME);
      assert.equal(name, '~' + createHash('sha256').update(Buffer.from(key, 'utf8')).digest('hex'));
      assert.equal(isHashedName(name), true);
    }
    assert.notEqual(encodeKeyName('a'.repeat(255) + 'b'), encodeKeyName('a'.repeat(255) + 'c'));
  });

  test('a name that is not hashed is never mistaken for a hashed one', () => {
    for (const key of [...KEY_SHAPES, ...randomKeys(1000, 3)]) {
      const name = encodeKeyName(key);
      assert.equal(isHashedName(name), HASHED_NAME.test(name), JSON.stringify(key));
    }
    assert.equal(isHashedName(encodeKeyName('~')), false);
  });

  test('encoding is deterministic', () => {
    for (const key of KEY_SHAPES) assert.equal(encodeKeyName(key), encodeKeyName(String(key)));
  });

  const foreign: ReadonlyArray<readonly [string, string]> = [
    ['the empty name', ''],
    ['an upper-case letter', 'A'],
    ['an escaped plain letter', '%61'],
    ['an escaped "_"', '%5F'],
    ['a non-leading escaped "."', 'a%2E'],
    ['lower-case hex', '%4a'],
    ['lower-case hex of a byte that must be escaped', '%2f'],
    ['a lone "%"', '%'],
    ['a truncated escape', '%4'],
    ['a non-hex escape', '%G1'],
    ['a lone continuation byte', '%80'],
    ['a byte that is never UTF-8', '%FF'],
    ['a truncated two-byte sequence', '%C3'],
    ['a bad continuation byte', '%C3%28'],
    ['an overlong "/"', '%C0%AF'],
    ['an encoded surrogate', '%ED%A0%80'],
    ['a code point above U+10FFFF', '%F4%90%80%80'],
    ['a leading "."', '.flock'],
    ['"."', '.'],
    ['".."', '..'],
    ['a raw non-ASCII character', 'é'],
    ['a raw "/"', 'a/b'],
    ['a raw space', 'a b'],
    ['a plain name longer than 200 characters', 'a'.repeat(201)],
    ['a hashed name', '~' + 'ab'.repeat(32)],
    ['a tilde name', '~x'],
  ];
  for (const [what, name] of foreign) {
    test(`decodeKeyName returns null for ${what} (${JSON.stringify(name.length > 30 ? name.slice(0, 30) + '…' : name)})`, () => {
      assert.equal(decodeKeyName(name), null);
    });
  }

  test('decodeKeyName decodes canonical escapes', () => {
    assert.equal(decodeKeyName('%4A'), 'J');
    assert.equal(decodeKeyName('%2E.'), '..');
    assert.equal(decodeKeyName('%2E'), '.');
    assert.equal(decodeKeyName('%C3%A9'), 'é');
    assert.equal(decodeKeyName('%F0%9F%98%80'), '😀');
    assert.equal(decodeKeyName('a.b'), 'a.b');
  });
});
