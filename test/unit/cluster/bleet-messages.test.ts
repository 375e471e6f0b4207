// Bleet frames and bodies (src/cluster/bleet-messages.ts): encode/decode round
// trips of every frame type; decodeFrame refusing (with BleetInvalidError) bytes
// that are not msgpack, non-maps, unknown types and methods, each missing or
// mistyped field, bad node ids, and arbitrary or mutated bytes; request and
// response body validation per method; unknown error codes; attachments
// (encodeBleet lifting large record payloads out of the frame, uncopied, and
// their validation: indexes out of range, taken twice, left over, bad lengths).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Packr } from 'msgpackr';
import {
  ATTACH_MIN_BYTES,
  BLEET_PROTOCOL,
  MAX_TTL_MS,
  BleetInvalidError,
  decodeFrame,
  encodeBleet,
  encodeFrame,
  isBleetMethod,
  readMember,
  validateRequest,
  validateResponse,
  type BleetMethod,
  type Frame,
} from '../../../src/cluster/bleet-messages.js';
import type { MemberInfo } from '../../../src/cluster/membership.js';
import { prng } from '../../helpers/prng.js';

/** Encodes anything, the way a peer (or an attacker) could. */
const raw = new Packr({ useRecords: false, mapsAsObjects: true });
const pack = (value: unknown): Uint8Array => raw.pack(value);

function isInvalid(err: unknown): true {
  assert.ok(err instanceof BleetInvalidError, `expected a BleetInvalidError, got ${String(err)}`);
  return true;
}

function assertInvalidFrame(value: unknown, what: string): void {
  let frame: Frame | undefined;
  try {
    frame = decodeFrame(pack(value));
  } catch (err) {
    isInvalid(err);
    return;
  }
  assert.fail(`${what}: accepted as ${JSON.stringify(frame)}`);
}

/** Plain data for comparisons: binary (decoded as Buffer) becomes a tagged hex string. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value).toString('hex') };
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

const MEMBER: MemberInfo = {
  nodeId: 'node-1',
  httpUrl: 'http://127.0.0.1:8080',
  bleetUrl: 'ws://127.0.0.1:9090',
  herd: true,
  incarnation: 1_700_000_000_123,
};

const FRAMES: ReadonlyArray<readonly [string, Frame]> = [
  ['hello', { t: 'hello', proto: BLEET_PROTOCOL, flocks: 1024, member: MEMBER }],
  ['hello of a manual-farm member', { t: 'hello', proto: BLEET_PROTOCOL, flocks: 16, member: { ...MEMBER, herd: false, farm: '0-7,9' } }],
  ['ping', { t: 'ping', digest: '0123456789abcdef', version: 42 }],
  ['req', { t: 'req', id: 7, m: 'replicate', ttl: 5000, b: { flock: 3, records: [Uint8Array.of(1, 2, 3)] } }],
  ['req without a body', { t: 'req', id: 1, m: 'members', ttl: 0, b: {} }],
  ['res ok', { t: 'res', id: 7, ok: true, b: { applied: 1 } }],
  ['res error', { t: 'res', id: 8, ok: false, e: { code: 'GREX_ERR_QUORUM', message: 'reached 1 of 3', data: { acks: 1, needed: 2 } } }],
  ['res error without data', { t: 'res', id: 9, ok: false, e: { code: 'GREX_ERR_NOT_HERDER', message: 'no' } }],
];

describe('encodeFrame / decodeFrame', () => {
  for (const [name, frame] of FRAMES) {
    test(`round trips a ${name} frame`, () => {
      assert.deepEqual(plain(decodeFrame(encodeFrame(frame))), plain(frame));
    });
  }

  test('drops fields it does not know', () => {
    const frame = decodeFrame(pack({ t: 'hello', proto: 1, flocks: 8, member: { ...MEMBER, extra: 'x' }, more: true }));
    assert.deepEqual(frame, { t: 'hello', proto: 1, flocks: 8, member: MEMBER });
  });

  test('reads a member without a farm, or with a null farm, as auto', () => {
    assert.equal('farm' in readMember({ ...MEMBER }), false);
    assert.equal('farm' in readMember({ ...MEMBER, farm: null }), false);
    assert.equal(readMember({ ...MEMBER, farm: '1-2' }).farm, '1-2');
  });
});

describe('decodeFrame refuses', () => {
  test('bytes that are not msgpack', () => {
    const hello = encodeFrame(FRAMES[0]![1]);
    for (const [what, bytes] of [
      ['no bytes', new Uint8Array(0)],
      ['a truncated map', Uint8Array.of(0x82, 0xa1, 0x74)],
      ['a truncated hello', hello.subarray(0, hello.length - 3)],
      ['a hello with bytes after it', Uint8Array.from([...hello, 0x00, 0x01])],
    ] as const) {
      assert.throws(() => decodeFrame(bytes), (err: unknown) => isInvalid(err) && /not msgpack/.test((err as Error).message), what);
    }
  });

  test('a frame that is not a map', () => {
    for (const value of [null, 5, 'hello', true, [1, 2], ['hello'], Uint8Array.of(1, 2)]) {
      assert.throws(() => decodeFrame(pack(value)), (err: unknown) => isInvalid(err) && /frame must be a map/.test((err as Error).message), String(value));
    }
  });

  test('an unknown or missing frame type', () => {
    for (const t of ['hey', 'HELLO', '', 1, null, undefined, ['hello']]) assertInvalidFrame({ t, proto: 1, flocks: 8, member: MEMBER }, `t = ${String(t)}`);
    assert.throws(() => decodeFrame(pack({ t: 'nope' })), /unknown frame type "nope"/);
  });

  test('a request with an unknown method', () => {
    for (const m of ['nope', 'toString', 'constructor', '__proto__', 'hasOwnProperty', 'Members', '', 5, null, undefined, ['job']]) {
      assertInvalidFrame({ t: 'req', id: 1, m, ttl: 10, b: {} }, `m = ${String(m)}`);
    }
    assert.throws(() => decodeFrame(pack({ t: 'req', id: 1, m: 'nope', ttl: 10, b: {} })), /unknown method "nope"/);
  });

  // For each frame type, each field is removed and given each wrong value in turn.
  const WRONG = {
    int: ['1', 1.5, -1, null, true, {}, [], Uint8Array.of(1)],
    string: [1, null, true, {}, [], Uint8Array.of(1)],
    bool: [1, 0, 'true', null, {}],
    map: [1, 'x', null, true, [], Uint8Array.of(1)],
  } as const;
  const FIELDS: ReadonlyArray<readonly [string, Record<string, unknown>, Record<string, readonly unknown[]>]> = [
    [
      'hello',
      { t: 'hello', proto: 1, flocks: 8, member: MEMBER },
      { proto: WRONG.int, flocks: [...WRONG.int, 0], member: WRONG.map },
    ],
    ['ping', { t: 'ping', digest: 'abc', version: 3 }, { digest: [...WRONG.string, 'x'.repeat(65)], version: WRONG.int }],
    ['req', { t: 'req', id: 1, m: 'members', ttl: 10, b: {} }, { id: [...WRONG.int, 0], m: WRONG.string, ttl: [...WRONG.int, MAX_TTL_MS + 1] }],
    ['res ok', { t: 'res', id: 1, ok: true, b: {} }, { id: [...WRONG.int, 0], ok: WRONG.bool }],
    ['res error', { t: 'res', id: 1, ok: false, e: { code: 'GREX_ERR_QUORUM', message: 'm' } }, { id: [...WRONG.int, 0], ok: WRONG.bool, e: WRONG.map }],
  ];
  for (const [name, valid, fields] of FIELDS) {
    test(`a ${name} frame with a missing or mistyped field`, () => {
      assert.doesNotThrow(() => decodeFrame(pack(valid)), 'the valid frame itself');
      for (const [field, wrongs] of Object.entries(fields)) {
        const { [field]: _removed, ...without } = valid;
        assertInvalidFrame(without, `${name} without ${field}`);
        for (const wrong of wrongs) assertInvalidFrame({ ...valid, [field]: wrong }, `${name} with ${field} = ${JSON.stringify(plain(wrong))}`);
      }
    });
  }

  test('a hello whose member misses a field or has a mistyped one', () => {
    const memberFields: Record<string, readonly unknown[]> = {
      nodeId: WRONG.string,
      httpUrl: [...WRONG.string, 'x'.repeat(2049)],
      bleetUrl: WRONG.string,
      herd: WRONG.bool,
      incarnation: WRONG.int,
    };
    for (const [field, wrongs] of Object.entries(memberFields)) {
      const { [field]: _removed, ...without } = MEMBER as unknown as Record<string, unknown>;
      assertInvalidFrame({ t: 'hello', proto: 1, flocks: 8, member: without }, `member without ${field}`);
      for (const wrong of wrongs) assertInvalidFrame({ t: 'hello', proto: 1, flocks: 8, member: { ...MEMBER, [field]: wrong } }, `member.${field} = ${JSON.stringify(plain(wrong))}`);
    }
    for (const farm of [5, true, {}, [0, 1], Uint8Array.of(1)]) assertInvalidFrame({ t: 'hello', proto: 1, flocks: 8, member: { ...MEMBER, farm } }, `farm = ${String(farm)}`);
  });

  test('a member with a bad node id', () => {
    for (const nodeId of ['', 'has space', 'slash/y', 'ünïcode', 'a'.repeat(65), 'new\nline', 'semi;colon']) {
      assertInvalidFrame({ t: 'hello', proto: 1, flocks: 8, member: { ...MEMBER, nodeId } }, `nodeId ${JSON.stringify(nodeId)}`);
      assert.throws(() => readMember({ ...MEMBER, nodeId }), isInvalid);
    }
    for (const nodeId of ['a', 'node_1.eu-west', 'A'.repeat(64)]) assert.equal(readMember({ ...MEMBER, nodeId }).nodeId, nodeId);
  });

  test('arbitrary and mutated bytes with nothing but a BleetInvalidError (or a valid frame)', () => {
    const random = prng(1234);
    const encoded = FRAMES.map(([, frame]) => encodeFrame(frame));
    for (let i = 0; i < 2000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = Uint8Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256));
      } else {
        bytes = Uint8Array.from(encoded[i % encoded.length]!);
        for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      }
      try {
        const frame = decodeFrame(bytes);
        assert.ok(['hello', 'ping', 'req', 'res'].includes(frame.t), `decoded to ${JSON.stringify(plain(frame))}`);
      } catch (err) {
        isInvalid(err);
      }
    }
  });
});

describe('an error response', () => {
  test('with an unknown code becomes GREX_ERR_INTERNAL naming the code', () => {
    const frame = decodeFrame(pack({ t: 'res', id: 1, ok: false, e: { code: 'GREX_ERR_FROM_THE_FUTURE', message: 'boom', data: { x: 1 } } }));
    assert.equal(frame.t, 'res');
    assert.ok(frame.t === 'res' && !frame.ok);
    assert.equal(frame.e.code, 'GREX_ERR_INTERNAL');
    assert.match(frame.e.message, /GREX_ERR_FROM_THE_FUTURE: boom/);
  });

  test('without a code or a message still decodes, as an internal error', () => {
    const frame = decodeFrame(pack({ t: 'res', id: 1, ok: false, e: {} }));
    assert.ok(frame.t === 'res' && !frame.ok);
    assert.equal(frame.e.code, 'GREX_ERR_INTERNAL');
    const noMessage = decodeFrame(pack({ t: 'res', id: 1, ok: false, e: { code: 'GREX_ERR_QUORUM', data: [1] } }));
    assert.ok(noMessage.t === 'res' && !noMessage.ok);
    assert.deepEqual(noMessage.e, { code: 'GREX_ERR_QUORUM', message: 'error' });
  });
});

// Valid and invalid bodies for each method (a body invalid for its method, never for another reason than the one named).
const bytes = Uint8Array.of(1, 2, 3);
const REQUESTS: { [M in BleetMethod]: { valid: unknown[]; invalid: [string, unknown][] } } = {
  members: {
    valid: [{}, { ignored: 1 }],
    invalid: [
      ['no body', undefined],
      ['a list', []],
      ['a string', 'x'],
      ['binary', bytes],
    ],
  },
  job: {
    valid: [
      { bucketKey: 'b', jobName: 'count', data: '{"n":1}', dataEncoding: 'json', resultEncoding: 'json' },
      { bucketKey: 'b', jobName: 'count', data: bytes, dataEncoding: 'msgpack', resultEncoding: 'value' },
      { bucketKey: 'b', jobName: 'count', data: null, dataEncoding: 'value', resultEncoding: 'msgpack' },
    ],
    invalid: [
      ['bucketKey a number', { bucketKey: 1, jobName: 'count', data: null, dataEncoding: 'json', resultEncoding: 'json' }],
      ['no jobName', { bucketKey: 'b', data: null, dataEncoding: 'json', resultEncoding: 'json' }],
      ['jobName too long', { bucketKey: 'b', jobName: 'j'.repeat(129), data: null, dataEncoding: 'json', resultEncoding: 'json' }],
      ['data a number', { bucketKey: 'b', jobName: 'count', data: 5, dataEncoding: 'json', resultEncoding: 'json' }],
      ['data a map', { bucketKey: 'b', jobName: 'count', data: {}, dataEncoding: 'json', resultEncoding: 'json' }],
      ['unknown dataEncoding', { bucketKey: 'b', jobName: 'count', data: null, dataEncoding: 'xml', resultEncoding: 'json' }],
      ['no resultEncoding', { bucketKey: 'b', jobName: 'count', data: null, dataEncoding: 'json' }],
    ],
  },
  replicate: {
    valid: [
      { flock: 0, term: 1, records: [] },
      { flock: 1023, term: 7, records: [bytes, bytes] },
      { flock: 1, term: 7, records: [[bytes, bytes], bytes] },
    ],
    invalid: [
      ['flock a string', { flock: '1', term: 1, records: [] }],
      ['negative flock', { flock: -1, term: 1, records: [] }],
      ['no term', { flock: 1, records: [] }],
      ['term a string', { flock: 1, term: '2', records: [] }],
      ['records not a list', { flock: 1, term: 1, records: bytes }],
      ['a record not binary', { flock: 1, term: 1, records: [bytes, 'x'] }],
      ['a record of three parts', { flock: 1, term: 1, records: [[bytes, bytes, bytes]] }],
      ['a record of one part', { flock: 1, term: 1, records: [[bytes]] }],
      ['a record head not binary', { flock: 1, term: 1, records: [['x', bytes]] }],
      ['an attachment index without attachments', { flock: 1, term: 1, records: [0] }],
      ['a payload attachment index without attachments', { flock: 1, term: 1, records: [[bytes, 0]] }],
      ['no records', { flock: 1, term: 1 }],
    ],
  },
  claim: {
    valid: [{ flock: 0, term: 1 }],
    invalid: [
      ['no term', { flock: 0 }],
      ['negative term', { flock: 0, term: -1 }],
      ['flock a string', { flock: 'x', term: 1 }],
    ],
  },
  fetch: {
    valid: [{ flock: 3, keys: [] }, { flock: 3, keys: [['b', 'i'], ['b', 'j']] }],
    invalid: [
      ['keys not a list', { flock: 3, keys: 'b' }],
      ['a key of one part', { flock: 3, keys: [['b']] }],
      ['a key part a number', { flock: 3, keys: [['b', 1]] }],
    ],
  },
  sync: {
    valid: [
      { flock: 1, term: 2, from: null, to: null, entries: [], verify: false },
      { flock: 1, term: 2, from: 'a', to: 'm', entries: [['b', 'i', 1, 5, 0], ['b', 'j', 2, 6, 1]], verify: true },
    ],
    invalid: [
      ['no entries', { flock: 1, term: 2, from: null, to: null }],
      ['an entry of four parts', { flock: 1, term: 2, from: null, to: null, entries: [['b', 'i', 1, 5]] }],
      ['an entry with a negative seq', { flock: 1, term: 2, from: null, to: null, entries: [['b', 'i', 1, -5, 0]] }],
      ['from a number', { flock: 1, term: 2, from: 1, to: null, entries: [] }],
      ['page negative', { flock: 1, term: 2, from: null, to: null, entries: [], page: -1, pages: 2 }],
    ],
  },
  digest: {
    valid: [{ flock: 1, term: 2 }],
    invalid: [['no flock', { term: 2 }]],
  },
  purge: {
    valid: [{ flock: 1, term: 2, entries: [['b', 'i', 1, 5, 1]] }],
    invalid: [['entries a map', { flock: 1, term: 2, entries: {} }]],
  },
  herd: {
    valid: [{ flock: 1, term: 2 }],
    invalid: [
      ['no term', { flock: 1 }],
      ['flock negative', { flock: -1, term: 2 }],
    ],
  },
  plan: {
    valid: [{ farm: '0-511' }, { farm: '' }, { farm: null }, {}],
    invalid: [
      ['farm a number', { farm: 7 }],
      ['farm too long', { farm: '1'.repeat(65537) }],
    ],
  },
  warm: {
    valid: [{ flock: 3, buckets: [] }, { flock: 3, buckets: ['a', 'b'] }],
    invalid: [
      ['buckets not keys', { flock: 3, buckets: [1] }],
      ['no flock', { buckets: [] }],
      ['a bucket key too long', { flock: 3, buckets: ['b'.repeat(1025)] }],
    ],
  },
  'item.get': {
    valid: [{ bucketKey: 'b', itemKey: 'i' }],
    invalid: [
      ['itemKey binary', { bucketKey: 'b', itemKey: bytes }],
      ['no bucketKey', { itemKey: 'i' }],
      ['bucketKey too long', { bucketKey: 'b'.repeat(1025), itemKey: 'i' }],
    ],
  },
  'item.list': {
    valid: [{ bucketKey: 'b' }],
    invalid: [
      ['bucketKey null', { bucketKey: null }],
      ['a list', ['b']],
    ],
  },
  'item.write': {
    valid: [
      { bucketKey: 'b', itemKey: 'i', bytes, encoding: 'raw', ifMatch: '1-2' },
      { bucketKey: 'b', itemKey: 'i', bytes: null, encoding: 'msgpack', ifMatch: null },
      { bucketKey: 'b', itemKey: 'i', encoding: 'msgpack' },
    ],
    invalid: [
      ['bytes a string', { bucketKey: 'b', itemKey: 'i', bytes: 'x', encoding: 'raw', ifMatch: null }],
      ['unknown encoding', { bucketKey: 'b', itemKey: 'i', bytes, encoding: 'json', ifMatch: null }],
      ['ifMatch a number', { bucketKey: 'b', itemKey: 'i', bytes, encoding: 'raw', ifMatch: 3 }],
      ['ifMatch too long', { bucketKey: 'b', itemKey: 'i', bytes, encoding: 'raw', ifMatch: '1'.repeat(65) }],
      ['no itemKey', { bucketKey: 'b', bytes, encoding: 'raw', ifMatch: null }],
    ],
  },
  stats: {
    valid: [{}],
    invalid: [
      ['no body', undefined],
      ['a list', []],
    ],
  },
};

const RESPONSES: { [M in BleetMethod]: { valid: unknown[]; invalid: [string, unknown][] } } = {
  claim: {
    valid: [{ entries: [] }, { entries: [['b', 'i', 1, 2, 0]] }],
    invalid: [['entries missing', {}]],
  },
  fetch: {
    valid: [{ records: [] }, { records: [bytes] }, { records: [[bytes, bytes]] }],
    invalid: [
      ['a record not binary', { records: ['x'] }],
      ['an attachment index without attachments', { records: [[bytes, 1]] }],
    ],
  },
  sync: {
    valid: [{ fetched: 1, purged: 0 }],
    invalid: [['fetched a string', { fetched: '1', purged: 0 }]],
  },
  digest: {
    valid: [{ digest: 'abc', items: 3 }],
    invalid: [['digest a number', { digest: 1, items: 3 }]],
  },
  purge: {
    valid: [{ purged: 0 }],
    invalid: [['purged negative', { purged: -1 }]],
  },
  herd: {
    valid: [{ herding: true }],
    invalid: [['herding a string', { herding: 'yes' }]],
  },
  plan: {
    valid: [{ farm: '0-3' }, { farm: null }],
    invalid: [['farm a list', { farm: [1] }]],
  },
  warm: {
    valid: [{ loaded: 4 }],
    invalid: [['loaded missing', {}]],
  },
  members: {
    valid: [
      { version: 1, members: [] },
      { version: 9, members: [MEMBER, { ...MEMBER, nodeId: 'node-2', farm: '0-3', herding: 'AQ==' }, { ...MEMBER, nodeId: 'node-3', removed: true }] },
    ],
    invalid: [
      ['version a string', { version: '1', members: [] }],
      ['members a map', { version: 1, members: {} }],
      ['a member with a bad node id', { version: 1, members: [{ ...MEMBER, nodeId: 'no good' }] }],
      ['a member without herd', { version: 1, members: [{ ...MEMBER, herd: undefined }] }],
    ],
  },
  job: {
    valid: [
      { result: '{"ok":true}', activeNode: 'node-1' },
      { result: bytes, activeNode: 'node-2' },
    ],
    invalid: [
      ['no result', { activeNode: 'node-1' }],
      ['result null', { result: null, activeNode: 'node-1' }],
      ['result a number', { result: 1, activeNode: 'node-1' }],
      ['activeNode a number', { result: 'x', activeNode: 1 }],
    ],
  },
  replicate: {
    valid: [{ applied: 0 }, { applied: 12 }, { applied: 1, missing: [['b', 'list']] }],
    invalid: [
      ['applied a string', { applied: 'many' }],
      ['missing not a list', { applied: 0, missing: 'b/list' }],
      ['a missing entry not [bucketKey, itemKey]', { applied: 0, missing: [['b']] }],
      ['applied negative', { applied: -1 }],
      ['applied fractional', { applied: 1.5 }],
      ['no body', null],
    ],
  },
  'item.get': {
    valid: [{ record: bytes }, { record: null }, {}],
    invalid: [
      ['record a string', { record: 'x' }],
      ['record a list', { record: [1] }],
    ],
  },
  'item.list': {
    valid: [{ items: [] }, { items: [{ itemKey: 'i', version: '1-2', size: 10, encoding: 'raw' }] }],
    invalid: [
      ['items a map', { items: {} }],
      ['an item with a string size', { items: [{ itemKey: 'i', version: '1-2', size: '10', encoding: 'raw' }] }],
      ['an item with an unknown encoding', { items: [{ itemKey: 'i', version: '1-2', size: 10, encoding: 'json' }] }],
      ['an item that is not a map', { items: ['i'] }],
    ],
  },
  'item.write': {
    valid: [{ version: '3-4' }],
    invalid: [
      ['version a number', { version: 34 }],
      ['no version', {}],
    ],
  },
  stats: {
    valid: [
      { jobsOk: 3, jobsFailed: 0, cacheHits: 2, cacheMisses: 1, queued: 0, led: [] },
      { jobsOk: 0, jobsFailed: 1, cacheHits: 0, cacheMisses: 0, queued: 5, led: [[0, 3], [7, 1]] },
    ],
    invalid: [
      ['jobsOk negative', { jobsOk: -1, jobsFailed: 0, cacheHits: 0, cacheMisses: 0, queued: 0, led: [] }],
      ['led not pairs', { jobsOk: 0, jobsFailed: 0, cacheHits: 0, cacheMisses: 0, queued: 0, led: [[1]] }],
      ['led with a string', { jobsOk: 0, jobsFailed: 0, cacheHits: 0, cacheMisses: 0, queued: 0, led: [['1', 2]] }],
      ['no led', { jobsOk: 0, jobsFailed: 0, cacheHits: 0, cacheMisses: 0, queued: 0 }],
    ],
  },
};

describe('validateRequest / validateResponse', () => {
  test('every method has validators and isBleetMethod knows exactly those', () => {
    for (const method of Object.keys(REQUESTS)) assert.ok(isBleetMethod(method), method);
    assert.deepEqual(Object.keys(RESPONSES).sort(), Object.keys(REQUESTS).sort());
    for (const notMethod of ['nope', 'toString', '__proto__', 5, null]) assert.equal(isBleetMethod(notMethod), false, String(notMethod));
  });

  for (const method of Object.keys(REQUESTS) as BleetMethod[]) {
    test(`accepts valid ${method} requests and refuses mistyped ones`, () => {
      for (const body of REQUESTS[method].valid) assert.doesNotThrow(() => validateRequest(method, body), JSON.stringify(plain(body)));
      for (const [what, body] of REQUESTS[method].invalid) assert.throws(() => validateRequest(method, body), isInvalid, `${method}: ${what}`);
    });

    test(`accepts valid ${method} responses and refuses mistyped ones`, () => {
      for (const body of RESPONSES[method].valid) assert.doesNotThrow(() => validateResponse(method, body), JSON.stringify(plain(body)));
      for (const [what, body] of RESPONSES[method].invalid) assert.throws(() => validateResponse(method, body), isInvalid, `${method}: ${what}`);
    });
  }

  test('returns only the known fields, with absent optional ones as null', () => {
    assert.deepEqual(validateRequest('item.write', { bucketKey: 'b', itemKey: 'i', encoding: 'raw', extra: 1 }), {
      bucketKey: 'b',
      itemKey: 'i',
      bytes: null,
      encoding: 'raw',
      ifMatch: null,
    });
    assert.deepEqual(validateResponse('item.get', {}), { record: null });
    // A herder that names no item missing may leave the list out.
    assert.deepEqual(validateResponse('replicate', { applied: 3 }), { applied: 3, missing: [], herding: true });
    assert.deepEqual(validateRequest('members', { x: 1 }), {});
  });

  test('bodies survive a round trip through a req or res frame', () => {
    const req = decodeFrame(encodeFrame({ t: 'req', id: 3, m: 'item.write', ttl: 100, b: REQUESTS['item.write'].valid[0] }));
    assert.ok(req.t === 'req');
    assert.deepEqual(plain(validateRequest(req.m, req.b)), plain(REQUESTS['item.write'].valid[0]));
    const res = decodeFrame(encodeFrame({ t: 'res', id: 3, ok: true, b: RESPONSES.members.valid[1] }));
    assert.ok(res.t === 'res' && res.ok);
    assert.deepEqual(validateResponse('members', res.b), RESPONSES.members.valid[1]);
  });
});

describe('attachments', () => {
  const big = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
  const head = Uint8Array.of(9, 9, 9);

  test('encodeBleet sends large record payloads after the frame, as they are; small ones inside it', () => {
    const large = big(ATTACH_MIN_BYTES, 1);
    const whole = big(ATTACH_MIN_BYTES + 5, 2);
    const small = big(ATTACH_MIN_BYTES - 1, 3);
    const frame: Frame = { t: 'req', id: 4, m: 'replicate', ttl: 100, b: { flock: 2, term: 3, records: [[head, large], [head, small], whole] } };
    const messages = encodeBleet(frame);
    assert.equal(messages.length, 3, 'the frame and two attachments');
    assert.equal(messages[1], large, 'the payload itself, not a copy');
    assert.equal(messages[2], whole);
    assert.ok(messages[0]!.byteLength < ATTACH_MIN_BYTES + 200, `the frame holds the small payload only (${messages[0]!.byteLength} bytes)`);
    const decoded = decodeFrame(messages[0]!);
    assert.ok(decoded.t === 'req');
    assert.deepEqual(decoded.x, [large.byteLength, whole.byteLength]);
    const body = validateRequest('replicate', decoded.b, messages.slice(1));
    assert.deepEqual(plain(body), plain(frame.b));
    assert.equal((body.records[0] as readonly Uint8Array[])[1], large, 'the attachment is taken as it arrived');
  });

  test('encodeBleet leaves frames without large binaries as one message, equal to encodeFrame', () => {
    for (const frame of [...FRAMES.map(([, f]) => f), { t: 'res', id: 2, ok: true, b: { records: [[head, bytes]] } } as Frame]) {
      const messages = encodeBleet(frame);
      assert.equal(messages.length, 1);
      assert.deepEqual(plain(decodeFrame(messages[0]!)), plain(decodeFrame(encodeFrame(frame))));
    }
  });

  test('a fetch answer carries its records as attachments too', () => {
    const payload = big(ATTACH_MIN_BYTES * 2, 4);
    const messages = encodeBleet({ t: 'res', id: 9, ok: true, b: { records: [[head, payload]] } });
    assert.equal(messages.length, 2);
    const decoded = decodeFrame(messages[0]!);
    assert.ok(decoded.t === 'res' && decoded.ok);
    assert.deepEqual(plain(validateResponse('fetch', decoded.b, messages.slice(1))), plain({ records: [[head, payload]] }));
  });

  test('refuses attachments that are missing, taken twice, or left over', () => {
    const a = big(10, 5);
    const b = big(20, 6);
    for (const [what, records, attachments, message] of [
      ['an index past the end', [[head, 2]], [a, b], /attachment 2 does not exist/],
      ['a negative index', [[head, -1]], [a], /attachment -1 does not exist/],
      ['a fractional index', [[head, 0.5]], [a], /must be binary/],
      ['one taken twice', [[head, 0], [head, 0]], [a], /referred to twice/],
      ['one left over', [[head, 0]], [a, b], /1 of the bleet's 2 attachments are not referred to/],
      ['attachments of a body without records', [], [a], /not referred to/],
    ] as const) {
      assert.throws(() => validateRequest('replicate', { flock: 1, term: 1, records }, attachments), (err: unknown) => isInvalid(err) && message.test((err as Error).message), what);
    }
    assert.throws(() => validateRequest('members', {}, [a]), (err: unknown) => isInvalid(err) && /not referred to/.test((err as Error).message));
    assert.throws(() => validateResponse('fetch', { records: [0, 0] }, [a]), /referred to twice/);
    assert.deepEqual(plain(validateRequest('replicate', { flock: 1, term: 1, records: [[head, 1], 0] }, [a, b])), plain({ flock: 1, term: 1, records: [[head, b], a] }), 'any order');
  });

  test('decodeFrame refuses bad attachment lengths, and attachments on frames that cannot have them', () => {
    for (const x of [[0], [-1], [1.5], ['10'], [null], 'x', 5, {}, [2 ** 32]]) {
      assertInvalidFrame({ t: 'req', id: 1, m: 'replicate', ttl: 10, b: {}, x }, `x = ${JSON.stringify(x)}`);
      assertInvalidFrame({ t: 'res', id: 1, ok: true, b: {}, x }, `res x = ${JSON.stringify(x)}`);
    }
    assertInvalidFrame({ t: 'req', id: 1, m: 'replicate', ttl: 10, b: {}, x: Array.from({ length: 100_001 }, () => 1) }, 'too many attachments');
    assertInvalidFrame({ t: 'res', id: 1, ok: false, e: { code: 'GREX_ERR_QUORUM', message: 'm' }, x: [3] }, 'an error answer with attachments');
    const frame = decodeFrame(pack({ t: 'req', id: 1, m: 'replicate', ttl: 10, b: {}, x: [] }));
    assert.ok(frame.t === 'req' && frame.x === undefined, 'an empty list: no attachments');
    const ping = decodeFrame(pack({ t: 'ping', digest: 'abc', version: 3, x: [5] }));
    assert.deepEqual(ping, { t: 'ping', digest: 'abc', version: 3 }, 'other frames ignore the field');
  });
});
