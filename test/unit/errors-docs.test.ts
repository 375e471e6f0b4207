// Covers src/errors.ts (GrexError, the wire form, fromWire/asGrexError, the
// code naming rule) and keeps docs/errors.md's table in step with the catalogue.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { asGrexError, ERRORS, fromWire, GrexError, isErrorCode, type ErrorCode, type ErrorSpec } from '../../src/errors.js';
import { markdownTable, unquote } from '../helpers/markdown-table.js';
import { repoRoot } from '../helpers/paths.js';

const CODES = Object.keys(ERRORS) as ErrorCode[];
const CODE_PATTERN = /^GREX_ERR_[A-Z]+(_[A-Z]+)*$/;

function spec(code: ErrorCode): ErrorSpec {
  return ERRORS[code];
}

interface DocRow {
  code: string;
  status: string;
  retryable: string;
  meaning: string;
}

/** The rows of the one `| code | HTTP status | retryable | meaning |` table of docs/errors.md. */
function docRows(): DocRow[] {
  const text = readFileSync(join(repoRoot, 'docs', 'errors.md'), 'utf8');
  return markdownTable(text, ['code', 'HTTP status', 'retryable', 'meaning'], 'docs/errors.md').map((row) => ({
    code: unquote(row[0]!),
    status: row[1]!,
    retryable: row[2]!,
    meaning: row[3]!,
  }));
}

describe('docs/errors.md', () => {
  const rows = docRows();

  test('lists exactly the codes of the catalogue, each once', () => {
    const documented = rows.map((row) => row.code);
    const missing = CODES.filter((code) => !documented.includes(code));
    const stale = documented.filter((code) => !isErrorCode(code));
    const duplicated = documented.filter((code, index) => documented.indexOf(code) !== index);
    assert.deepEqual({ missing, stale, duplicated }, { missing: [], stale: [], duplicated: [] });
  });

  test('lists the codes in catalogue order', () => {
    assert.deepEqual(
      rows.map((row) => row.code).filter(isErrorCode),
      CODES.filter((code) => rows.some((row) => row.code === code)),
    );
  });

  test("each row's HTTP status and retryable agree with the catalogue", () => {
    const wrong: string[] = [];
    for (const row of rows) {
      if (!isErrorCode(row.code)) continue;
      const { status, retryable } = spec(row.code);
      const wantStatus = status === null ? '—' : String(status);
      const wantRetryable = retryable ? 'yes' : 'no';
      if (row.status !== wantStatus) wrong.push(`${row.code}: status ${row.status}, catalogue says ${wantStatus}`);
      if (row.retryable !== wantRetryable) wrong.push(`${row.code}: retryable ${row.retryable}, catalogue says ${wantRetryable}`);
    }
    assert.deepEqual(wrong, []);
  });

  test('every row explains its code', () => {
    assert.deepEqual(
      rows.filter((row) => row.meaning.length < 10).map((row) => row.code),
      [],
    );
  });
});

describe('the error catalogue', () => {
  test('every code matches GREX_ERR_<AREA>_<PROBLEM> in capitals', () => {
    assert.deepEqual(CODES.filter((code) => !CODE_PATTERN.test(code)), []);
  });

  test('every status is null or an HTTP error status, and every summary is one line', () => {
    for (const code of CODES) {
      const { status, retryable, summary } = spec(code);
      assert.ok(status === null || (Number.isInteger(status) && status >= 400 && status <= 599), `${code}: status ${status}`);
      assert.equal(typeof retryable, 'boolean', code);
      assert.ok(summary.length > 0 && !summary.includes('\n'), `${code}: summary must be one non-empty line`);
    }
  });

  test('every 503 error is retryable (clients are told to retry after Retry-After)', () => {
    assert.deepEqual(
      CODES.filter((code) => spec(code).status === 503 && !spec(code).retryable),
      [],
    );
  });
});

describe('GrexError', () => {
  test('carries its code, message, status, retryable flag and data', () => {
    const err = new GrexError('GREX_ERR_OVERLOADED', 'bucket b already has 1000 jobs waiting', { scope: 'bucket', retryAfterSeconds: 1 });
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'GrexError');
    assert.equal(err.code, 'GREX_ERR_OVERLOADED');
    assert.equal(err.message, 'bucket b already has 1000 jobs waiting');
    assert.equal(err.status, 503);
    assert.equal(err.retryable, true);
    assert.deepEqual(err.data, { scope: 'bucket', retryAfterSeconds: 1 });
  });

  test('takes status and retryable from the catalogue for every code', () => {
    for (const code of CODES) {
      const err = new GrexError(code, 'm');
      assert.equal(err.status, spec(code).status ?? 500, code);
      assert.equal(err.retryable, spec(code).retryable, code);
      assert.equal(err.data, undefined, code);
    }
  });

  test('an error that never reaches HTTP still has status 500 when shown', () => {
    assert.equal(spec('GREX_ERR_CONFIG_INVALID').status, null);
    assert.equal(new GrexError('GREX_ERR_CONFIG_INVALID', 'flag --workers: bad').status, 500);
  });

  test('keeps the cause it was given', () => {
    const cause = new Error('EIO');
    assert.equal(new GrexError('GREX_ERR_STORE_IO', 'write failed', undefined, { cause }).cause, cause);
  });

  test('toWire leaves out data when there is none', () => {
    assert.deepEqual(new GrexError('GREX_ERR_JOB_NOT_FOUND', 'no job named x').toWire(), {
      code: 'GREX_ERR_JOB_NOT_FOUND',
      message: 'no job named x',
    });
    assert.deepEqual(new GrexError('GREX_ERR_VERSION_CONFLICT', 'stale', { version: '1-2' }).toWire(), {
      code: 'GREX_ERR_VERSION_CONFLICT',
      message: 'stale',
      data: { version: '1-2' },
    });
  });
});

describe('fromWire', () => {
  test('rebuilds the same code, message and data for every code, also through JSON', () => {
    for (const code of CODES) {
      const original = new GrexError(code, `message of ${code}`, { n: 1, s: 'x' });
      for (const wire of [original.toWire(), JSON.parse(JSON.stringify(original.toWire())) as unknown as object]) {
        const rebuilt = fromWire(wire);
        assert.ok(rebuilt instanceof GrexError, code);
        assert.equal(rebuilt.code, code);
        assert.equal(rebuilt.message, original.message);
        assert.deepEqual(rebuilt.data, original.data);
        assert.equal(rebuilt.status, original.status);
        assert.equal(rebuilt.retryable, original.retryable);
      }
    }
  });

  test('turns an unknown code into GREX_ERR_INTERNAL and keeps the unknown code in the message', () => {
    const err = fromWire({ code: 'GREX_ERR_FROM_THE_FUTURE', message: 'new in 9.0', data: { a: 1 } });
    assert.equal(err.code, 'GREX_ERR_INTERNAL');
    assert.match(err.message, /GREX_ERR_FROM_THE_FUTURE/);
    assert.match(err.message, /new in 9\.0/);
    assert.deepEqual(err.data, { a: 1 });
  });

  test('does not take inherited object properties for codes', () => {
    for (const code of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      assert.equal(fromWire({ code, message: 'm' }).code, 'GREX_ERR_INTERNAL', code);
    }
  });

  test('copes with a missing code, a non-string message and non-object data', () => {
    const err = fromWire({ message: 42, data: 'not an object' });
    assert.equal(err.code, 'GREX_ERR_INTERNAL');
    assert.match(err.message, /unknown error/);
    assert.equal(err.data, undefined);
    assert.equal(fromWire({}).code, 'GREX_ERR_INTERNAL');
  });
});

describe('asGrexError', () => {
  test('passes a GrexError through unchanged', () => {
    const err = new GrexError('GREX_ERR_ITEM_NOT_FOUND', 'bucket has no item "x"');
    assert.equal(asGrexError(err), err);
  });

  test('turns any other Error into GREX_ERR_INTERNAL with its message and the error as cause', () => {
    const cause = new TypeError('x is not a function');
    const err = asGrexError(cause);
    assert.equal(err.code, 'GREX_ERR_INTERNAL');
    assert.equal(err.message, 'x is not a function');
    assert.equal(err.cause, cause);
    assert.equal(err.status, 500);
  });

  test('turns a thrown non-Error value into GREX_ERR_INTERNAL', () => {
    const err = asGrexError('plain string');
    assert.equal(err.code, 'GREX_ERR_INTERNAL');
    assert.equal(err.message, 'plain string');
  });
});

describe('isErrorCode', () => {
  test('accepts the catalogue codes and nothing else', () => {
    for (const code of CODES) assert.equal(isErrorCode(code), true, code);
    for (const other of ['GREX_ERR_NOPE', 'grex_err_internal', '', 'toString', 42, null, undefined]) {
      assert.equal(isErrorCode(other), false, String(other));
    }
  });
});
