/**
 * Bleets: the messages between nodes, their encoding, and their validation.
 *
 * A frame is one msgpack map with a type `t`:
 *
 *   hello  {proto, flocks, member}          first frame on a connection, both ways
 *   ping   {digest, version}                heartbeat, with the member table's fingerprint
 *   req    {id, m, ttl, b, x?}              request: method, ms until its deadline, body
 *   res    {id, ok: true, b, x?} | {id, ok: false, e}
 *
 * Attachments: large binaries of a body (record payloads of at least
 * ATTACH_MIN_BYTES) do not go inside the frame, which would copy them into
 * it, but as binary messages of their own right after it, sent from the
 * bytes as they are. `x` lists their lengths; in the body, such a binary's
 * place holds its index in that list. A frame and its attachments are one
 * bleet, sent back to back (nothing comes in between), at most the link's
 * maxBleetBytes together. Each attachment is taken by exactly one place of
 * the body: a wrong length, an index out of range or used twice, or an
 * attachment nothing refers to makes the bleet invalid.
 *
 * Nothing from a peer is used before it is validated here: an unknown type,
 * a missing or mistyped field, or an unknown method makes `decodeFrame` throw
 * a BleetInvalidError, and the connection that sent it is closed. Pure: no
 * sockets.
 */
import { Packr } from 'msgpackr';
import { isErrorCode, type WireError } from '../errors.js';
import type { PayloadEncoding } from '../workers/protocol.js';
import type { ItemEncoding, RecordBytes } from '../store/item-record.js';
import type { MemberInfo } from './membership.js';

/**
 * 2: replicate carries deltas (appends) and answers which items lack their base.
 * 3: records may travel as [head, payload], large payloads as attachments
 * after their frame (a node of protocol 2 would refuse them: the hello refuses it).
 */
export const BLEET_PROTOCOL = 3;
/** Binaries of a record this long or longer travel as attachments; shorter ones inside the frame. */
export const ATTACH_MIN_BYTES = 64 * 1024;
/** Most attachments one bleet may have. */
export const MAX_ATTACHMENTS = 100_000;
/** Longest deadline a request may carry (a job may run up to 24 h, plus the bleet timeout). */
export const MAX_TTL_MS = 48 * 3600 * 1000;

export class BleetInvalidError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BleetInvalidError';
  }
}

// ---- request and response bodies, per method ----

export interface JobBleet {
  bucketKey: string;
  jobName: string;
  data: string | Uint8Array | null;
  dataEncoding: PayloadEncoding;
  resultEncoding: PayloadEncoding;
}

export interface ItemHeaderBleet {
  itemKey: string;
  version: string;
  size: number;
  encoding: ItemEncoding;
}

/** A listing entry on the wire: [bucketKey, itemKey, term, seq, flags (1 tombstone, 2 corrupt)]. */
export type WireEntry = [string, string, number, number, number];

/** A node's counters for the cluster overview (GET /cluster/overview). */
export interface NodeStatsBleet {
  /** Jobs run on this node as their active node, by outcome. */
  jobsOk: number;
  jobsFailed: number;
  cacheHits: number;
  cacheMisses: number;
  /** Jobs running or waiting on this node. */
  queued: number;
  /** Flocks this node leads: [flock, herders in sync with it (itself included)]. */
  led: [number, number][];
}

export interface BleetMethods {
  members: { req: Record<string, never>; res: { version: number; members: MemberInfo[] } };
  job: { req: JobBleet; res: { result: string | Uint8Array; activeNode: string } };
  /**
   * Records of one write (whole items or deltas). The answer names the items
   * whose delta the herder could not apply, lacking its base: they are sent
   * again, whole. `herding` false: the receiver is a learner (its word does not count).
   */
  replicate: { req: { flock: number; term: number; records: RecordBytes[] }; res: { applied: number; missing: [string, string][]; herding: boolean } };
  /**
   * A candidate asks for a promise of `term`; the answer carries what the herder holds of the flock and
   * whether it herds it. `adopt`: the candidate sees the flock as fresh (never claimed).
   */
  claim: { req: { flock: number; term: number; adopt: boolean }; res: { entries: WireEntry[]; herding: boolean; basis: number } };
  /** Records of the given items as this node holds them (absent ones are left out). */
  fetch: { req: { flock: number; keys: [string, string][] }; res: { records: RecordBytes[] } };
  /** The active node's listing of buckets [from, to): the herder makes itself identical. */
  sync: {
    req: { flock: number; term: number; from: string | null; to: string | null; entries: WireEntry[]; verify: boolean; page?: number; pages?: number };
    res: { fetched: number; purged: number };
  };
  /** The active node tells a learner it caught up: it herds the flock from now on. */
  herd: { req: { flock: number; term: number }; res: { herding: boolean } };
  /** Part of a farm plan: this node's manual farm from now on ('' none, null back to auto). */
  plan: { req: { farm: string | null }; res: { farm: string | null } };
  /** Warm handover: the former active node names the flock's hot buckets; the new one loads them. */
  warm: { req: { flock: number; buckets: string[] }; res: { loaded: number } };
  /** The fingerprint of what the herder holds of the flock (read and verified). */
  digest: { req: { flock: number; term: number }; res: { digest: string; items: number } };
  /** Removes these tombstones if their versions still match (every herder has them). */
  purge: { req: { flock: number; term: number; entries: WireEntry[] }; res: { purged: number } };
  'item.get': { req: { bucketKey: string; itemKey: string }; res: { record: Uint8Array | null } };
  'item.list': { req: { bucketKey: string }; res: { items: ItemHeaderBleet[] } };
  'item.write': {
    req: { bucketKey: string; itemKey: string; bytes: Uint8Array | null; encoding: ItemEncoding; ifMatch: string | null };
    res: { version: string };
  };
  /** The node's counters, for the dashboard. */
  stats: { req: Record<string, never>; res: NodeStatsBleet };
}

export type BleetMethod = keyof BleetMethods;
export type BleetRequest<M extends BleetMethod> = BleetMethods[M]['req'];
export type BleetResponse<M extends BleetMethod> = BleetMethods[M]['res'];

export type Frame =
  | { t: 'hello'; proto: number; flocks: number; member: MemberInfo }
  | { t: 'ping'; digest: string; version: number }
  | { t: 'req'; id: number; m: BleetMethod; ttl: number; b: unknown; x?: number[] }
  | { t: 'res'; id: number; ok: true; b: unknown; x?: number[] }
  | { t: 'res'; id: number; ok: false; e: WireError };

// ---- field checks ----

type Obj = Record<string, unknown>;

function fail(what: string): never {
  throw new BleetInvalidError(what);
}

function obj(value: unknown, what: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) fail(`${what} must be a map`);
  return value as Obj;
}

function str(o: Obj, key: string, maxLength = 4096): string {
  const value = o[key];
  if (typeof value !== 'string' || value.length > maxLength) fail(`${key} must be a string of at most ${maxLength} characters`);
  return value;
}

function int(o: Obj, key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const value = o[key];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) fail(`${key} must be an integer in ${min}..${max}`);
  return value;
}

function bool(o: Obj, key: string): boolean {
  const value = o[key];
  if (typeof value !== 'boolean') fail(`${key} must be a boolean`);
  return value;
}

function bytes(o: Obj, key: string): Uint8Array {
  const value = o[key];
  if (!(value instanceof Uint8Array)) fail(`${key} must be binary`);
  return value;
}

function optional<T>(o: Obj, key: string, read: (o: Obj, key: string) => T): T | null {
  return o[key] === undefined || o[key] === null ? null : read(o, key);
}

function oneOf<T extends string>(o: Obj, key: string, allowed: readonly T[]): T {
  const value = o[key];
  if (!allowed.includes(value as T)) fail(`${key} must be one of ${allowed.join(', ')}`);
  return value as T;
}

/**
 * The attachments of one bleet, as its body's places take them: each exactly
 * once (see the header comment).
 */
export class Attachments {
  readonly #parts: readonly Uint8Array[];
  readonly #taken: boolean[];
  #left: number;

  constructor(parts: readonly Uint8Array[] = []) {
    this.#parts = parts;
    this.#taken = parts.map(() => false);
    this.#left = parts.length;
  }

  take(index: number): Uint8Array {
    const part = this.#parts[index];
    if (part === undefined) fail(`attachment ${index} does not exist (the bleet has ${this.#parts.length})`);
    if (this.#taken[index] === true) fail(`attachment ${index} is referred to twice`);
    this.#taken[index] = true;
    this.#left--;
    return part;
  }

  /** Throws unless every attachment was taken. */
  finish(): void {
    if (this.#left > 0) fail(`${this.#left} of the bleet's ${this.#parts.length} attachments are not referred to`);
  }
}

/** A binary place of a body: the bytes inside the frame, or the index of an attachment. */
function binaryOrAttached(value: unknown, attachments: Attachments, what: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return attachments.take(value);
  return fail(`${what} must be binary`);
}

/** A record: its bytes whole, or [head, payload]; either binary may be an attachment. */
function readRecordBytes(value: unknown, attachments: Attachments): RecordBytes {
  if (!Array.isArray(value)) return binaryOrAttached(value, attachments, 'records');
  if (value.length !== 2) fail('records must be binary or [head, payload]');
  return [binaryOrAttached(value[0], attachments, 'a record head'), binaryOrAttached(value[1], attachments, 'a record payload')];
}

function arrayOf<T>(o: Obj, key: string, max: number, read: (item: unknown, index: number) => T): T[] {
  const value = o[key];
  if (!Array.isArray(value) || value.length > max) fail(`${key} must be a list of at most ${max}`);
  return value.map(read);
}

const PAYLOAD_ENCODINGS = ['json', 'msgpack', 'value'] as const;
const ITEM_ENCODINGS = ['msgpack', 'raw'] as const;
const KEY_CHARS = 1024; // a 256-byte key is at most 256 UTF-16 units; generous bound before the key check proper

export function readMember(value: unknown): MemberInfo {
  const o = obj(value, 'member');
  const member: MemberInfo = {
    nodeId: str(o, 'nodeId', 64),
    httpUrl: str(o, 'httpUrl', 2048),
    bleetUrl: str(o, 'bleetUrl', 2048),
    herd: bool(o, 'herd'),
    incarnation: int(o, 'incarnation'),
  };
  const farm = optional(o, 'farm', (x, k) => str(x, k, 65536));
  if (farm !== null) member.farm = farm;
  const herding = optional(o, 'herding', (x, k) => str(x, k, 65536));
  if (herding !== null) member.herding = herding;
  const learning = optional(o, 'learning', (x, k) => str(x, k, 65536));
  if (learning !== null) member.learning = learning;
  const removed = optional(o, 'removed', (x, k) => bool(x, k));
  if (removed === true) member.removed = true;
  const stopping = optional(o, 'stopping', (x, k) => bool(x, k));
  if (stopping === true) member.stopping = true;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(member.nodeId)) fail('nodeId is not a node id');
  return member;
}

function readStringOrBytes(o: Obj, key: string): string | Uint8Array | null {
  const value = o[key];
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || value instanceof Uint8Array) return value;
  return fail(`${key} must be a string or binary`);
}

function readEntries(o: Obj, key: string): WireEntry[] {
  return arrayOf(o, key, 10_000_000, (item) => {
    if (!Array.isArray(item) || item.length !== 5) fail(`${key} entries must be [bucketKey, itemKey, term, seq, flags]`);
    const [bucketKey, itemKey, term, seq, flags] = item as unknown[];
    if (typeof bucketKey !== 'string' || bucketKey.length > KEY_CHARS || typeof itemKey !== 'string' || itemKey.length > KEY_CHARS) fail(`${key} keys must be strings`);
    for (const n of [term, seq, flags]) if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) fail(`${key} numbers must be non-negative integers`);
    return [bucketKey, itemKey, term as number, seq as number, flags as number];
  });
}

function readKeyPair(k: unknown): [string, string] {
  if (!Array.isArray(k) || k.length !== 2 || typeof k[0] !== 'string' || typeof k[1] !== 'string') fail('keys must be [bucketKey, itemKey]');
  return [k[0], k[1]];
}

function flockAndTerm(b: unknown): { o: Obj; flock: number; term: number } {
  const o = obj(b, 'body');
  return { o, flock: int(o, 'flock'), term: int(o, 'term') };
}

/** Validators of request bodies, by method. */
const REQUESTS: { [M in BleetMethod]: (body: unknown, attachments: Attachments) => BleetRequest<M> } = {
  members: (b) => (obj(b, 'body'), {}),
  job: (b) => {
    const o = obj(b, 'body');
    return {
      bucketKey: str(o, 'bucketKey', KEY_CHARS),
      jobName: str(o, 'jobName', 128),
      data: readStringOrBytes(o, 'data'),
      dataEncoding: oneOf(o, 'dataEncoding', PAYLOAD_ENCODINGS),
      resultEncoding: oneOf(o, 'resultEncoding', PAYLOAD_ENCODINGS),
    };
  },
  replicate: (b, attachments) => {
    const { o, flock, term } = flockAndTerm(b);
    return { flock, term, records: arrayOf(o, 'records', 100_000, (r) => readRecordBytes(r, attachments)) };
  },
  claim: (b) => {
    const { o, flock, term } = flockAndTerm(b);
    return { flock, term, adopt: o.adopt === true };
  },
  fetch: (b) => {
    const o = obj(b, 'body');
    return { flock: int(o, 'flock'), keys: arrayOf(o, 'keys', 100_000, readKeyPair) };
  },
  sync: (b) => {
    const { o, flock, term } = flockAndTerm(b);
    return {
      flock,
      term,
      from: optional(o, 'from', (x, k) => str(x, k, KEY_CHARS)),
      to: optional(o, 'to', (x, k) => str(x, k, KEY_CHARS)),
      entries: readEntries(o, 'entries'),
      verify: o.verify === true,
      ...(o.page === undefined ? {} : { page: int(o, 'page') }),
      ...(o.pages === undefined ? {} : { pages: int(o, 'pages') }),
    };
  },
  herd: (b) => {
    const { flock, term } = flockAndTerm(b);
    return { flock, term };
  },
  plan: (b) => ({ farm: optional(obj(b, 'body'), 'farm', (x, k) => str(x, k, 65536)) }),
  warm: (b) => {
    const o = obj(b, 'body');
    return { flock: int(o, 'flock'), buckets: arrayOf(o, 'buckets', 10_000, (k) => (typeof k === 'string' && k.length <= KEY_CHARS ? k : fail('buckets must be keys'))) };
  },
  digest: (b) => {
    const { flock, term } = flockAndTerm(b);
    return { flock, term };
  },
  purge: (b) => {
    const { o, flock, term } = flockAndTerm(b);
    return { flock, term, entries: readEntries(o, 'entries') };
  },
  'item.get': (b) => {
    const o = obj(b, 'body');
    return { bucketKey: str(o, 'bucketKey', KEY_CHARS), itemKey: str(o, 'itemKey', KEY_CHARS) };
  },
  'item.list': (b) => ({ bucketKey: str(obj(b, 'body'), 'bucketKey', KEY_CHARS) }),
  'item.write': (b) => {
    const o = obj(b, 'body');
    return {
      bucketKey: str(o, 'bucketKey', KEY_CHARS),
      itemKey: str(o, 'itemKey', KEY_CHARS),
      bytes: optional(o, 'bytes', bytes),
      encoding: oneOf(o, 'encoding', ITEM_ENCODINGS),
      ifMatch: optional(o, 'ifMatch', (x, k) => str(x, k, 64)),
    };
  },
  stats: (b) => (obj(b, 'body'), {}),
};

/** Validators of response bodies, by method. */
const RESPONSES: { [M in BleetMethod]: (body: unknown, attachments: Attachments) => BleetResponse<M> } = {
  members: (b) => {
    const o = obj(b, 'body');
    return { version: int(o, 'version'), members: arrayOf(o, 'members', 10_000, readMember) };
  },
  job: (b) => {
    const o = obj(b, 'body');
    const result = readStringOrBytes(o, 'result');
    if (result === null) fail('result is missing');
    return { result, activeNode: str(o, 'activeNode', 2048) };
  },
  replicate: (b) => {
    const o = obj(b, 'body');
    return { applied: int(o, 'applied'), missing: o.missing === undefined ? [] : arrayOf(o, 'missing', 100_000, readKeyPair), herding: o.herding !== false };
  },
  claim: (b) => {
    const o = obj(b, 'body');
    // basis: absent from nodes of older builds (0: unknown, the merge then works as before).
    return { entries: readEntries(o, 'entries'), herding: o.herding !== false, basis: o.basis === undefined ? 0 : int(o, 'basis') };
  },
  fetch: (b, attachments) => ({ records: arrayOf(obj(b, 'body'), 'records', 100_000, (r) => readRecordBytes(r, attachments)) }),
  sync: (b) => {
    const o = obj(b, 'body');
    return { fetched: int(o, 'fetched'), purged: int(o, 'purged') };
  },
  digest: (b) => {
    const o = obj(b, 'body');
    return { digest: str(o, 'digest', 128), items: int(o, 'items') };
  },
  purge: (b) => ({ purged: int(obj(b, 'body'), 'purged') }),
  herd: (b) => ({ herding: bool(obj(b, 'body'), 'herding') }),
  plan: (b) => ({ farm: optional(obj(b, 'body'), 'farm', (x, k) => str(x, k, 65536)) }),
  warm: (b) => ({ loaded: int(obj(b, 'body'), 'loaded') }),
  'item.get': (b) => ({ record: optional(obj(b, 'body'), 'record', bytes) }),
  'item.list': (b) => ({
    items: arrayOf(obj(b, 'body'), 'items', 1_000_000, (item) => {
      const o = obj(item, 'item');
      return { itemKey: str(o, 'itemKey', KEY_CHARS), version: str(o, 'version', 64), size: int(o, 'size'), encoding: oneOf(o, 'encoding', ITEM_ENCODINGS) };
    }),
  }),
  'item.write': (b) => ({ version: str(obj(b, 'body'), 'version', 64) }),
  stats: (b) => {
    const o = obj(b, 'body');
    return {
      jobsOk: int(o, 'jobsOk'),
      jobsFailed: int(o, 'jobsFailed'),
      cacheHits: int(o, 'cacheHits'),
      cacheMisses: int(o, 'cacheMisses'),
      queued: int(o, 'queued'),
      led: arrayOf(o, 'led', 1 << 20, (pair) => {
        if (!Array.isArray(pair) || pair.length !== 2) fail('led entries must be [flock, in-sync herders]');
        const [flock, inSync] = pair as unknown[];
        if (!Number.isSafeInteger(flock) || !Number.isSafeInteger(inSync) || (flock as number) < 0 || (inSync as number) < 0) fail('led entries must be non-negative integers');
        return [flock as number, inSync as number];
      }),
    };
  },
};

export function isBleetMethod(method: unknown): method is BleetMethod {
  return typeof method === 'string' && Object.hasOwn(REQUESTS, method);
}

/** Validates a request body; `attachments` are those that came after its frame. */
export function validateRequest<M extends BleetMethod>(method: M, body: unknown, attachments: readonly Uint8Array[] = []): BleetRequest<M> {
  const taken = new Attachments(attachments);
  const request = REQUESTS[method](body, taken) as BleetRequest<M>;
  taken.finish();
  return request;
}

/** Validates a response body; `attachments` are those that came after its frame. */
export function validateResponse<M extends BleetMethod>(method: M, body: unknown, attachments: readonly Uint8Array[] = []): BleetResponse<M> {
  const taken = new Attachments(attachments);
  const response = RESPONSES[method](body, taken) as BleetResponse<M>;
  taken.finish();
  return response;
}

// ---- frames ----

const codec = new Packr({ useRecords: false, mapsAsObjects: true });

/** One frame, every binary inside it (a valid bleet of one message). */
export function encodeFrame(frame: Frame): Uint8Array {
  return codec.pack(frame);
}

/**
 * The messages of one bleet: its frame, then its attachments (the large
 * binaries of its body's records, not copied). Send them back to back.
 */
export function encodeBleet(frame: Frame): Uint8Array[] {
  const body = frame.t === 'req' || (frame.t === 'res' && frame.ok) ? frame.b : undefined;
  const records = typeof body === 'object' && body !== null ? (body as { records?: unknown }).records : undefined;
  if (!Array.isArray(records)) return [codec.pack(frame)];
  const attachments: Uint8Array[] = [];
  const place = (bytes: Uint8Array): Uint8Array | number => (bytes.byteLength < ATTACH_MIN_BYTES ? bytes : attachments.push(bytes) - 1);
  const wire = (records as RecordBytes[]).map((r) => (r instanceof Uint8Array ? place(r) : [place(r[0]), place(r[1])]));
  if (attachments.length === 0) return [codec.pack(frame)];
  // Object.assign, not `{ ...frame, x }`: a spread followed by a new property makes a new hidden class each time on Node 20.
  const sent = Object.assign({}, frame, { b: Object.assign({}, body as Obj, { records: wire }), x: attachments.map((a) => a.byteLength) });
  return [codec.pack(sent), ...attachments];
}

/** The attachment lengths `x` of a req or res frame (a field absent or empty: none). */
function readAttachmentLengths(o: Obj): { x?: number[] } {
  if (o.x === undefined) return {};
  const x = arrayOf(o, 'x', MAX_ATTACHMENTS, (n) => (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 0xffffffff ? n : fail('x must list attachment lengths (positive integers)')));
  return x.length === 0 ? {} : { x };
}

function readWireError(value: unknown): WireError {
  const o = obj(value, 'error');
  const code = o.code;
  const message = typeof o.message === 'string' ? o.message.slice(0, 10_000) : 'error';
  const data = typeof o.data === 'object' && o.data !== null && !Array.isArray(o.data) ? (o.data as Record<string, unknown>) : undefined;
  if (!isErrorCode(code)) return { code: 'GREX_ERR_INTERNAL', message: `${String(code)}: ${message}` };
  return data === undefined ? { code, message } : { code, message, data };
}

/** Decodes and validates one frame. Request and response bodies are checked per method later. */
export function decodeFrame(bytes: Uint8Array): Frame {
  let value: unknown;
  try {
    value = codec.unpack(bytes);
  } catch (err) {
    fail(`not msgpack: ${(err as Error).message}`);
  }
  const o = obj(value, 'frame');
  switch (o.t) {
    case 'hello':
      return { t: 'hello', proto: int(o, 'proto'), flocks: int(o, 'flocks', 1), member: readMember(o.member) };
    case 'ping':
      return { t: 'ping', digest: str(o, 'digest', 64), version: int(o, 'version') };
    case 'req': {
      const m = o.m;
      if (!isBleetMethod(m)) fail(`unknown method ${JSON.stringify(m)}`);
      return { t: 'req', id: int(o, 'id', 1), m, ttl: int(o, 'ttl', 0, MAX_TTL_MS), b: o.b, ...readAttachmentLengths(o) };
    }
    case 'res':
      if (bool(o, 'ok')) return { t: 'res', id: int(o, 'id', 1), ok: true, b: o.b, ...readAttachmentLengths(o) };
      if (o.x !== undefined) fail('an error answer has no attachments');
      return { t: 'res', id: int(o, 'id', 1), ok: false, e: readWireError(o.e) };
    case 'challenge':
      return fail('the peer wants to authenticate first: it has a cluster secret (option secret) and this node has none');
    default:
      return fail(`unknown frame type ${JSON.stringify(o.t)}`);
  }
}
