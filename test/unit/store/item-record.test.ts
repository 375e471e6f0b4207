// Item records (src/store/item-record.ts): encode/decode round trips, every
// single-byte corruption and every truncation detected as GREX_ERR_STORE_CORRUPT,
// misplaced records, header-only decoding; and versions (src/store/version.ts):
// ordering, formatting and parsing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { GrexError } from '../../../src/errors.js';
import {
  decodeItemHeader,
  decodeItemRecord,
  decodeItemRecordParts,
  decodeRecordBytes,
  encodeItemHead,
  encodeItemRecord,
  encodeItemRecordParts,
  HEADER_FIXED_BYTES,
  HEADER_MAX_BYTES,
  type ItemRecord,
} from '../../../src/store/item-record.js';
import { compareVersions, formatVersion, MAX_SEQ, MAX_TERM, NO_VERSION, parseVersion, type Version } from '../../../src/store/version.js';
import { headerOf, plain, record, version } from './backend-contract.js';

function isCorrupt(err: unknown): true {
  assert.ok(err instanceof GrexError, `expected a GrexError, got ${String(err)}`);
  assert.equal(err.code, 'GREX_ERR_STORE_CORRUPT');
  return true;
}

/** Decodes and fails the test if the bytes are accepted (showing what came back). */
function assertCorrupt(bytes: Uint8Array, what: string, expect?: { bucketKey: string; itemKey: string }): void {
  let decoded: ItemRecord | undefined;
  try {
    decoded = decodeItemRecord(bytes, 'test/b/i', expect);
  } catch (err) {
    isCorrupt(err);
    return;
  }
  assert.fail(`${what}: decoded instead of refused: ${JSON.stringify({ ...decoded, payload: Buffer.from(decoded.payload).toString('hex') })}`);
}

describe('item records', () => {
  const roundTrips: ReadonlyArray<readonly [string, ItemRecord]> = [
    ['a raw item', record('bucket', 'item', version(1, 1), 'hello')],
    ['a msgpack item', record('bucket', 'item', version(2, 3), Buffer.from([0x81, 0xa1, 0x61, 0x01]), { encoding: 'msgpack' })],
    ['a tombstone', record('bucket', 'item', version(4, 5), '', { tombstone: true })],
    ['a msgpack tombstone', record('bucket', 'item', version(4, 6), '', { tombstone: true, encoding: 'msgpack' })],
    ['an empty raw payload', record('b', 'i', version(1, 2), new Uint8Array(0))],
    ['an empty msgpack payload', record('b', 'i', version(1, 2), new Uint8Array(0), { encoding: 'msgpack' })],
    ['version 0-0', record('b', 'i', NO_VERSION)],
    ['seq 2^32 - 1', record('b', 'i', version(1, 2 ** 32 - 1))],
    ['seq 2^32', record('b', 'i', version(1, 2 ** 32))],
    ['seq 2^32 + 1', record('b', 'i', version(1, 2 ** 32 + 1))],
    ['seq MAX_SAFE_INTEGER', record('b', 'i', version(1, Number.MAX_SAFE_INTEGER))],
    ['term 2^32 - 1 and the largest seq', record('b', 'i', version(MAX_TERM, MAX_SEQ))],
    ['256-byte multi-byte keys', record('é'.repeat(128), '😀'.repeat(64), version(7, 8), 'x')],
    ['hostile keys', record('../../etc', '/passwd\n', version(1, 1), 'root')],
    ['a 2 MB payload of every byte value', record('b', 'big', version(1, 9), Buffer.from(Array.from({ length: 2 * 1024 * 1024 }, (_, i) => (i * 131) & 0xff)))],
  ];
  for (const [what, r] of roundTrips) {
    test(`${what} survives encode then decode`, () => {
      const bytes = encodeItemRecord(r);
      assert.equal(bytes.length, HEADER_FIXED_BYTES + Buffer.byteLength(r.bucketKey) + Buffer.byteLength(r.itemKey) + (r.tombstone ? 0 : r.payload.length));
      assert.deepEqual(plain(decodeItemRecord(bytes, 'test')), plain(r));
      assert.deepEqual(plain(decodeItemRecord(bytes, 'test', { bucketKey: r.bucketKey, itemKey: r.itemKey })), plain(r));
    });
  }

  test('the parts (head, then the payload itself, not a copy) are the record byte for byte', () => {
    const big = record('b', 'big', version(3, 4), Buffer.from(Array.from({ length: 1_000_000 }, (_, i) => (i * 7) & 0xff)), { encoding: 'msgpack' });
    const [head, payload] = encodeItemRecordParts(big);
    assert.equal(payload, big.payload);
    assert.equal(head.length, HEADER_FIXED_BYTES + 1 + 3);
    assert.deepEqual(Buffer.concat([head, payload]), encodeItemRecord(big));
    // Encoded again (logged, replicated, written to its file): the same head, its checksum not computed again.
    assert.equal(encodeItemHead(big), head);
  });

  for (const [what, r] of roundTrips) {
    test(`${what} survives encode then decode as its head and payload`, () => {
      const [head, payload] = encodeItemRecordParts(r);
      assert.deepEqual(plain(decodeItemRecordParts(head, payload, 'test')), plain(r));
      assert.deepEqual(plain(decodeRecordBytes([head, payload], 'test', { bucketKey: r.bucketKey, itemKey: r.itemKey })), plain(r));
      assert.deepEqual(plain(decodeRecordBytes(encodeItemRecord(r), 'test')), plain(r));
    });
  }

  test('a record decoded from its parts keeps the payload it was given and encodes again to the same parts', () => {
    const r = record('b', 'i', version(2, 2), Buffer.alloc(100_000, 3), { encoding: 'msgpack' });
    const head = Buffer.from(encodeItemHead(r));
    const payload = new Uint8Array(r.payload);
    const decoded = decodeItemRecordParts(head, payload, 'test');
    assert.equal(decoded.payload, payload, 'not copied');
    const [againHead, againPayload] = encodeItemRecordParts(decoded);
    assert.equal(againPayload, payload);
    assert.deepEqual(Buffer.from(againHead), head);
  });

  test('parts that do not match are reported as corrupt, never decoded', () => {
    const r = record('bucket', 'item', version(1, 2), 'some payload bytes');
    const [head, payload] = encodeItemRecordParts(r);
    const refused = (h: Uint8Array, p: Uint8Array, what: string, expect?: { bucketKey: string; itemKey: string }) =>
      assert.throws(() => decodeItemRecordParts(h, p, 'test/b/i', expect), isCorrupt, what);
    refused(head, Buffer.from('some payload bytez'), 'a changed payload');
    refused(head, payload.subarray(1), 'a short payload');
    refused(head, Buffer.concat([payload, Buffer.from([0])]), 'a long payload');
    refused(head.subarray(0, head.length - 1), payload, 'a short head');
    refused(Buffer.concat([head, payload.subarray(0, 1)]), payload.subarray(1), 'the head with payload bytes');
    refused(head, payload, 'another item', { bucketKey: 'bucket', itemKey: 'other' });
    for (let position = 0; position < head.length; position++) {
      const bad = Buffer.from(head);
      bad[position]! ^= 0x01;
      refused(bad, payload, `head byte ${position} flipped`);
    }
  });

  test('a decoded record encodes again to the very bytes it came from, and a changed copy to its own', () => {
    const original = encodeItemRecord(record('bucket', 'item', version(5, 6), Buffer.alloc(70_000, 9), { encoding: 'msgpack' }));
    const decoded = decodeItemRecord(original, 'test');
    assert.deepEqual(encodeItemRecord(decoded), original);
    const [head, payload] = encodeItemRecordParts(decoded);
    assert.equal(head.buffer, original.buffer, 'the head is a view of the decoded bytes');
    const changed: ItemRecord = { ...decoded, version: version(5, 7), payload: Buffer.alloc(10, 1) };
    assert.deepEqual(plain(decodeItemRecord(encodeItemRecord(changed), 'test')), plain(changed));
    assert.notEqual(encodeItemHead(changed), head);
    assert.equal(payload.length, 70_000);
  });

  test('a tombstone that carries bytes (not written by Grex) encodes as a tombstone without them', () => {
    const bytes = encodeItemRecord(record('b', 'i', version(1, 1), 'abc'));
    bytes[5] = bytes[5]! | 1; // the tombstone flag, header checksum fixed below
    bytes.writeUInt32LE(crc32(bytes.subarray(HEADER_FIXED_BYTES, HEADER_FIXED_BYTES + 2), crc32(bytes.subarray(0, 32))), 32);
    const decoded = decodeItemRecord(bytes, 'test');
    assert.equal(decoded.tombstone, true);
    const again = encodeItemRecord(decoded);
    assert.equal(again.length, HEADER_FIXED_BYTES + 2);
    assert.deepEqual(plain(decodeItemRecord(again, 'test')), { ...plain(decoded) as object, size: 0, payload: Buffer.alloc(0) });
  });

  test('a tombstone is stored without its payload', () => {
    const bytes = encodeItemRecord({ ...record('b', 'i', version(1, 1)), tombstone: true, payload: Buffer.from('dropped') });
    const decoded = decodeItemRecord(bytes, 'test');
    assert.equal(decoded.tombstone, true);
    assert.equal(decoded.payload.length, 0);
    assert.equal(bytes.includes(Buffer.from('dropped')), false);
  });

  test('a record starts with the magic "GRXI" and format 1', () => {
    const bytes = encodeItemRecord(record('b', 'i', version(1, 1)));
    assert.equal(bytes.subarray(0, 4).toString('latin1'), 'GRXI');
    assert.equal(bytes[4], 1);
  });

  test('decoding a record inside a larger buffer reads only its view', () => {
    const r = record('b', 'i', version(3, 4), 'payload');
    const bytes = encodeItemRecord(r);
    const big = Buffer.concat([Buffer.from('prefix--'), bytes, Buffer.from('--suffix')]);
    const view = big.subarray(8, 8 + bytes.length);
    assert.deepEqual(plain(decodeItemRecord(view, 'test')), plain(r));
    assert.deepEqual({ ...decodeItemHeader(view, 'test') }, { ...headerOf(r), payloadOffset: HEADER_FIXED_BYTES + 2, purge: false, delta: false });
  });

  for (const [what, r] of [
    ['a small raw item', record('b', 'i', version(0x01020304, 0x0506070809), 'hello', { encoding: 'msgpack' })],
    ['a tombstone', record('bk', 'ik', version(9, 9), '', { tombstone: true })],
    ['an item with multi-byte keys', record('é', '😀', version(1, 2), 'xyz')],
  ] as const) {
    test(`flipping any single byte of ${what} is reported as corrupt, never decoded`, () => {
      const good = encodeItemRecord(r);
      for (let position = 0; position < good.length; position++) {
        for (const mask of [0xff, 0x01, 0x80, 0x10]) {
          const bad = Buffer.from(good);
          bad[position]! ^= mask;
          assertCorrupt(bad, `byte ${position} ^ 0x${mask.toString(16)}`);
        }
      }
    });
  }

  test('every truncation of a record, and a record with extra bytes, is reported as corrupt', () => {
    const good = encodeItemRecord(record('bucket', 'item', version(1, 2), 'some payload bytes'));
    for (let length = 0; length < good.length; length++) assertCorrupt(good.subarray(0, length), `first ${length} bytes`);
    assertCorrupt(Buffer.concat([good, Buffer.from([0])]), 'one extra byte');
    assertCorrupt(Buffer.concat([good, good]), 'the record twice');
  });

  test('a payload swapped for another of the same length is reported as corrupt', () => {
    const good = encodeItemRecord(record('b', 'i', version(1, 1), 'aaaa'));
    const other = encodeItemRecord(record('b', 'i', version(1, 1), 'bbbb'));
    assertCorrupt(Buffer.concat([good.subarray(0, good.length - 4), other.subarray(other.length - 4)]), 'swapped payload');
  });

  test('a record decoded as another item (a misplaced file) is reported as corrupt', () => {
    const bytes = encodeItemRecord(record('bucket', 'item', version(1, 1), 'x'));
    for (const expect of [
      { bucketKey: 'bucket', itemKey: 'other' },
      { bucketKey: 'other', itemKey: 'item' },
      { bucketKey: 'Bucket', itemKey: 'item' },
      { bucketKey: 'bucket', itemKey: 'ITEM' },
      { bucketKey: 'item', itemKey: 'bucket' },
      { bucketKey: 'bucketi', itemKey: 'tem' },
    ]) {
      assertCorrupt(bytes, JSON.stringify(expect), expect);
    }
    assert.equal(decodeItemRecord(bytes, 'test', { bucketKey: 'bucket', itemKey: 'item' }).itemKey, 'item');
  });

  test('decodeItemHeader reads the header from just the header prefix, without the payload', () => {
    const r = record('my bucket', 'my item', version(MAX_TERM, MAX_SEQ), Buffer.alloc(100_000, 9), { encoding: 'msgpack' });
    const bytes = encodeItemRecord(r);
    const offset = HEADER_FIXED_BYTES + Buffer.byteLength('my bucket') + Buffer.byteLength('my item');
    const expected = { ...headerOf(r), payloadOffset: offset, purge: false, delta: false };
    assert.deepEqual({ ...decodeItemHeader(bytes.subarray(0, offset), 'test') }, expected);
    assert.deepEqual({ ...decodeItemHeader(bytes.subarray(0, HEADER_MAX_BYTES), 'test') }, expected);
    assert.deepEqual({ ...decodeItemHeader(bytes, 'test') }, expected);
  });

  test('decodeItemHeader of the longest keys fits in HEADER_MAX_BYTES', () => {
    const r = record('x'.repeat(256), '😀'.repeat(64), version(1, 1), Buffer.alloc(1000));
    const bytes = encodeItemRecord(r);
    assert.deepEqual({ ...decodeItemHeader(bytes.subarray(0, HEADER_MAX_BYTES), 'test') }, { ...headerOf(r), payloadOffset: HEADER_MAX_BYTES, purge: false, delta: false });
  });

  test('decodeItemHeader refuses a prefix that stops inside the keys, and any corrupted header byte', () => {
    const bytes = encodeItemRecord(record('bucket', 'item', version(1, 1), 'payload'));
    const offset = HEADER_FIXED_BYTES + 10;
    for (let length = 0; length < offset; length++) {
      assert.throws(() => decodeItemHeader(bytes.subarray(0, length), 'test'), isCorrupt, `first ${length} bytes`);
    }
    for (let position = 0; position < offset; position++) {
      const bad = Buffer.from(bytes);
      bad[position]! ^= 0xff;
      assert.throws(() => decodeItemHeader(bad, 'test'), isCorrupt, `byte ${position}`);
    }
  });

  test('the corruption error names the item it was given', () => {
    const bad = encodeItemRecord(record('b', 'i', version(1, 1), 'x'));
    bad[bad.length - 1]! ^= 1;
    assert.throws(() => decodeItemRecord(bad, '17/users/alice'), (err: unknown) => isCorrupt(err) && /17\/users\/alice/.test((err as Error).message));
  });
});

describe('versions', () => {
  const v = (term: number, seq: number): Version => ({ term, seq });

  test('compareVersions orders by term first, then by seq', () => {
    assert.equal(compareVersions(v(1, 100), v(2, 0)), -1);
    assert.equal(compareVersions(v(2, 0), v(1, 100)), 1);
    assert.equal(compareVersions(v(2, 5), v(2, 6)), -1);
    assert.equal(compareVersions(v(2, 6), v(2, 5)), 1);
    assert.equal(compareVersions(v(2, 6), v(2, 6)), 0);
    assert.equal(compareVersions(v(MAX_TERM, 0), v(MAX_TERM - 1, MAX_SEQ)), 1);
    assert.equal(compareVersions(v(1, MAX_SEQ - 1), v(1, MAX_SEQ)), -1);
    assert.equal(compareVersions(v(1, 2 ** 32), v(1, 2 ** 32 - 1)), 1);
  });

  test('NO_VERSION sorts before every committed version', () => {
    assert.deepEqual(NO_VERSION, { term: 0, seq: 0 });
    for (const other of [v(0, 1), v(1, 0), v(1, 1), v(MAX_TERM, MAX_SEQ)]) {
      assert.equal(compareVersions(NO_VERSION, other), -1);
      assert.equal(compareVersions(other, NO_VERSION), 1);
    }
  });

  test('sorting with compareVersions gives the expected total order', () => {
    const ordered = [v(0, 0), v(0, 7), v(1, 0), v(1, 1), v(1, 2 ** 32), v(2, 0), v(2, 3), v(10, 1), v(MAX_TERM, 0), v(MAX_TERM, MAX_SEQ)];
    const shuffled = [ordered[5]!, ordered[9]!, ordered[0]!, ordered[3]!, ordered[7]!, ordered[1]!, ordered[8]!, ordered[2]!, ordered[6]!, ordered[4]!];
    assert.deepEqual([...shuffled].sort(compareVersions), ordered);
  });

  test('formatVersion writes <term>-<seq> and parseVersion reads it back', () => {
    const cases: ReadonlyArray<readonly [Version, string]> = [
      [v(0, 0), '0-0'],
      [v(1, 2), '1-2'],
      [v(7, 2 ** 32), '7-4294967296'],
      [v(MAX_TERM, MAX_SEQ), '4294967295-9007199254740991'],
    ];
    for (const [version, text] of cases) {
      assert.equal(formatVersion(version), text);
      assert.deepEqual(parseVersion(text), version);
      assert.deepEqual(parseVersion(formatVersion(version)), version);
    }
  });

  test('parseVersion returns null for malformed or out-of-range versions', () => {
    const bad = [
      '',
      '1',
      '1-',
      '-1',
      '-',
      '1-2-3',
      '1--2',
      '-1-2',
      '+1-2',
      'a-b',
      '1-b',
      '1.5-2',
      '1-2.0',
      '1e3-1',
      '0x1-1',
      ' 1-2',
      '1-2 ',
      '1-2\n',
      '1_2',
      '1 2',
      '１-２',
      '٣-1',
      '*',
      'W/"1-2"',
      '4294967296-0',
      '99999999999-0',
      '0-9007199254740992',
      '0-9999999999999999',
      '0-12345678901234567',
    ];
    for (const text of bad) assert.equal(parseVersion(text), null, JSON.stringify(text));
  });
});
