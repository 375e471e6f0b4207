/**
 * The one catalogue of Grex errors.
 *
 * Every error a client or operator can see is declared here once: a stable
 * `GREX_ERR_<AREA>_<PROBLEM>` code, the HTTP status it maps to (null for
 * errors that only stop a start), whether retrying the same request may
 * succeed, and a one-line summary. `docs/errors.md` documents the same codes
 * and a test keeps the two in sync. Retired codes are never reused.
 */

export interface ErrorSpec {
  /** HTTP status of the error reply; null when the error never reaches HTTP. */
  readonly status: number | null;
  /** True when the same request may succeed later without being changed. */
  readonly retryable: boolean;
  /** What the code means, as documented. */
  readonly summary: string;
}

export const ERRORS = {
  GREX_ERR_KEY_INVALID: {
    status: 400,
    retryable: false,
    summary: 'A bucketKey or itemKey is not 1–256 bytes of well-formed UTF-8 without NUL.',
  },
  GREX_ERR_URL_INVALID: {
    status: 400,
    retryable: false,
    summary: 'The request URL has a malformed percent-encoded component.',
  },
  GREX_ERR_ROUTE_NOT_FOUND: {
    status: 404,
    retryable: false,
    summary: 'No route matches the method and URL.',
  },
  GREX_ERR_JOB_NAME_INVALID: {
    status: 400,
    retryable: false,
    summary: 'A job name does not match [a-z0-9][a-z0-9_-]* (at most 64 characters).',
  },
  GREX_ERR_JOB_NOT_FOUND: {
    status: 404,
    retryable: false,
    summary: 'No job module with that name was loaded from the jobs folder.',
  },
  GREX_ERR_BODY_MALFORMED: {
    status: 400,
    retryable: false,
    summary: 'The request body is not valid JSON or msgpack for its content type.',
  },
  GREX_ERR_BODY_TOO_LARGE: {
    status: 413,
    retryable: false,
    summary: 'The request body is larger than the bodyLimitMb option allows.',
  },
  GREX_ERR_MEDIA_TYPE_UNSUPPORTED: {
    status: 415,
    retryable: false,
    summary: 'Job data must be application/json or application/msgpack.',
  },
  GREX_ERR_JOB_DATA_INVALID: {
    status: 400,
    retryable: false,
    summary: 'Job data cannot be passed to a worker thread (for example a function).',
  },
  GREX_ERR_JOB_LOAD: {
    status: null,
    retryable: false,
    summary: 'A job module failed to load at start, has no default-exported function, or is badly named.',
  },
  GREX_ERR_JOB_FAILED: {
    status: 422,
    retryable: false,
    summary: 'The job threw; nothing it changed was stored. The message is the job\'s.',
  },
  GREX_ERR_JOB_TIMEOUT: {
    status: 504,
    retryable: true,
    summary: 'The job ran longer than jobTimeoutMs; its thread was replaced and nothing it changed was stored.',
  },
  GREX_ERR_JOB_RESULT_INVALID: {
    status: 500,
    retryable: false,
    summary: 'The job\'s result cannot be encoded in the reply\'s format; nothing it changed was stored.',
  },
  GREX_ERR_ITEM_VALUE_INVALID: {
    status: 422,
    retryable: false,
    summary: 'A job put an item value that cannot be encoded, read a raw item as msgpack or appended to an item that is not a list; nothing was stored.',
  },
  GREX_ERR_ITEM_NOT_FOUND: {
    status: 404,
    retryable: false,
    summary: 'The bucket has no item with that key.',
  },
  GREX_ERR_ITEM_TOO_LARGE: {
    status: 413,
    retryable: false,
    summary: 'An item is larger than the itemLimitMb option allows; nothing was stored.',
  },
  GREX_ERR_VERSION_INVALID: {
    status: 400,
    retryable: false,
    summary: 'An If-Match version is not of the form <term>-<seq> (or 0 for "absent").',
  },
  GREX_ERR_VERSION_CONFLICT: {
    status: 409,
    retryable: false,
    summary: 'The item\'s current version differs from the If-Match version; nothing was stored.',
  },
  GREX_ERR_OVERLOADED: {
    status: 503,
    retryable: true,
    summary: 'A limit is reached: a job queue (per bucket or for the node), the HTTP requests or request body bytes a node serves at once, or a peer\'s bleets being served; retry after the Retry-After seconds.',
  },
  GREX_ERR_SHUTTING_DOWN: {
    status: 503,
    retryable: true,
    summary: 'The node is stopping and takes no new jobs.',
  },
  GREX_ERR_NOT_READY: {
    status: 503,
    retryable: true,
    summary: 'The node has not finished starting (or is stopping).',
  },
  GREX_ERR_NODE_UNREACHABLE: {
    status: null,
    retryable: false,
    summary: 'A client could not reach any node, or lost the connection after sending (the job may or may not have run).',
  },
  GREX_ERR_STORE_CORRUPT: {
    status: 500,
    retryable: false,
    summary: 'A stored item failed its checksum or is unreadable; its bytes are never returned.',
  },
  GREX_ERR_STORE_IO: {
    status: 500,
    retryable: true,
    summary: 'The store could not read or write (disk full, I/O error); nothing of the request was acknowledged.',
  },
  GREX_ERR_NOT_ACTIVE: {
    status: 503,
    retryable: true,
    summary: 'A forwarded job or item request reached a node that is not the active node of its flock; data names the active node it knows and its farm-map version.',
  },
  GREX_ERR_NOT_HERDER: {
    status: 404,
    retryable: false,
    summary: 'A ?local=true read (or a replicated write) reached a node that does not herd the bucket\'s flock.',
  },
  GREX_ERR_COPY_INCOMPLETE: {
    status: null,
    retryable: false,
    summary: 'Between nodes: an active node told a learner to herd a flock it holds no whole copy of at that term (no sync of every page since its copy was last emptied); it is synced again first.',
  },
  GREX_ERR_FLOCK_UNASSIGNED: {
    status: 503,
    retryable: true,
    summary: 'No live node herds the bucket\'s flock (all its herders are down, or a manual farm leaves it out).',
  },
  GREX_ERR_STALE_TERM: {
    status: 503,
    retryable: true,
    summary: 'The node that ran the job lost the flock to a newer term (fencing) before the change was acknowledged; it may or may not be stored.',
  },
  GREX_ERR_FLOCK_UNAVAILABLE: {
    status: 503,
    retryable: true,
    summary: 'This node should lead the flock but could not claim it: too few of its herders promised a new term, or it does not herd the flock at the moment.',
  },
  GREX_ERR_UNKNOWN_MEMBER: {
    status: 404,
    retryable: false,
    summary: 'A cluster admin request names a node that is not a member (or was removed already).',
  },
  GREX_ERR_MEMBER_ALIVE: {
    status: 409,
    retryable: false,
    summary: 'Only a dead member can be removed; a live node leaves instead (grex leave).',
  },
  GREX_ERR_PLAN_INVALID: {
    status: 400,
    retryable: false,
    summary: 'A farm plan was refused and nothing changed: it is malformed, names unknown nodes, or leaves a flock without a herder.',
  },
  GREX_ERR_QUORUM: {
    status: 503,
    retryable: true,
    summary: 'The change reached fewer herders than the write quorum needs; it was not acknowledged (it may still be on some herders).',
  },
  GREX_ERR_PEER_UNAVAILABLE: {
    status: 503,
    retryable: true,
    summary: 'The node that must handle the request (the active node) cannot be reached, or its connection closed mid-request.',
  },
  GREX_ERR_BLEET_TIMEOUT: {
    status: 504,
    retryable: true,
    summary: 'A peer did not answer a bleet before its deadline; the outcome on the peer is unknown.',
  },
  GREX_ERR_BLEET_INVALID: {
    status: null,
    retryable: false,
    summary: 'A peer sent a frame that is not a valid bleet (bad msgpack, unknown type or method, wrong field types, too large); its connection was closed.',
  },
  GREX_ERR_BLEET_AUTH: {
    status: null,
    retryable: false,
    summary: 'A peer connection did not prove it knows the cluster secret (no secret, a wrong one, a replayed handshake, or a frame before authenticating); it was closed before any bleet was read.',
  },
  GREX_ERR_CLUSTER_MISMATCH: {
    status: null,
    retryable: false,
    summary: 'A peer speaks another bleet protocol version or has another number of flocks; it cannot join this cluster.',
  },
  GREX_ERR_UNAUTHORIZED: {
    status: 401,
    retryable: false,
    summary: 'An admin endpoint was called without the node\'s admin token (Authorization: Bearer <token>), or with a wrong one.',
  },
  GREX_ERR_DATA_LOCKED: {
    status: null,
    retryable: false,
    summary: 'Another live Grex process already uses this data directory.',
  },
  GREX_ERR_CONFIG_INVALID: {
    status: null,
    retryable: false,
    summary: 'An option, config-file key or GREX_* variable is unknown or invalid; the message names it.',
  },
  GREX_ERR_INTERNAL: {
    status: 500,
    retryable: false,
    summary: 'An unexpected error inside Grex (a bug); the node keeps serving.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The shape an error has on the wire (HTTP bodies, worker replies, bleets). */
export interface WireError {
  code: ErrorCode;
  message: string;
  data?: Record<string, unknown>;
}

export class GrexError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, data?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GrexError';
    this.code = code;
    const spec: ErrorSpec = ERRORS[code];
    this.status = spec.status ?? 500;
    this.retryable = spec.retryable;
    this.data = data;
  }

  toWire(): WireError {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/** Rebuilds a GrexError from its wire shape; unknown codes become GREX_ERR_INTERNAL. */
export function fromWire(wire: { code?: unknown; message?: unknown; data?: unknown }): GrexError {
  const message = typeof wire.message === 'string' ? wire.message : 'unknown error';
  const data = typeof wire.data === 'object' && wire.data !== null ? (wire.data as Record<string, unknown>) : undefined;
  if (isErrorCode(wire.code)) return new GrexError(wire.code, message, data);
  return new GrexError('GREX_ERR_INTERNAL', `${String(wire.code)}: ${message}`, data);
}

/** Any thrown value as a GrexError: GrexErrors pass through, the rest are internal errors. */
export function asGrexError(err: unknown): GrexError {
  if (err instanceof GrexError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new GrexError('GREX_ERR_INTERNAL', message, undefined, { cause: err });
}
