// The security start-up of a node (src/node-security.ts, src/tls.ts): the
// cluster secret from a file, the loud warnings of a node open to the
// network without a secret, an admin token or TLS, and TLS files read and
// checked at start with errors that name the option.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { GrexError } from '../../src/errors.js';
import { isLoopbackHost, readClusterSecret, securityWarnings } from '../../src/node-security.js';
import { readTls } from '../../src/tls.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { MemoryNetwork, MemoryTransport } from '../../src/cluster/memory-transport.js';
import type { StartNodeOptions } from '../../src/grex-node.js';
import { startTestNode } from '../helpers/nodes.js';
import { tempDir } from '../helpers/temp-dir.js';
import { selfSignedCert } from '../helpers/tls-certs.js';

function configInvalid(pattern: RegExp) {
  return (err: unknown): true => {
    assert.ok(err instanceof GrexError, `expected a GrexError, got ${String(err)}`);
    assert.equal(err.code, 'GREX_ERR_CONFIG_INVALID');
    assert.match(err.message, pattern);
    return true;
  };
}

const SECURE = { adminToken: 't'.repeat(16), tlsKey: 'k.pem' };

function recordingLogger() {
  const lines: { level: number; msg: string; security?: boolean }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('cluster secret', () => {
  test('comes from secret, or from secretFile without surrounding whitespace', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'secret');
    await writeFile(file, '  0123456789abcdef0123\n');
    assert.equal(await readClusterSecret({ secretFile: file }), '0123456789abcdef0123');
    assert.equal(await readClusterSecret({ secret: 'x'.repeat(16) }), 'x'.repeat(16));
    assert.equal(await readClusterSecret({}), undefined);
  });

  test('a missing or short secret file stops the start naming secretFile', async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(readClusterSecret({ secretFile: join(dir, 'missing') }), configInvalid(/option secretFile: cannot read .* \(ENOENT\)/));
    const short = join(dir, 'short');
    await writeFile(short, 'abc\n');
    await assert.rejects(readClusterSecret({ secretFile: short }), configInvalid(/option secretFile: .* holds 3 characters; use at least 16/));
  });
});

describe('security warnings', () => {
  test('loopback hosts', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '[::1]', '::1']) assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['0.0.0.0', '10.0.0.5', '[::]', 'grex-1.internal', '128.0.0.1']) assert.equal(isLoopbackHost(host), false, host);
  });

  test('a node reachable from other machines without a secret warns about it', () => {
    const warnings = securityWarnings({ bleet: '0.0.0.0:9000', http: '127.0.0.1:8080', ...SECURE }, false);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^NO CLUSTER SECRET: the bleet listener 0.0.0.0:9000/);
    assert.deepEqual(securityWarnings({ bleet: '0.0.0.0:9000', http: '127.0.0.1:8080', ...SECURE }, true), []);
  });

  test('loopback listeners, or none, need no warning', () => {
    assert.deepEqual(securityWarnings({ bleet: '127.0.0.1:9000', http: '127.0.0.1:8080' }, false), []);
    assert.deepEqual(securityWarnings({ bleet: false, http: false }, false), []);
    assert.deepEqual(securityWarnings({ bleet: '[::1]:0', http: 'localhost:0' }, false), []);
  });

  test('open HTTP without an admin token, and any open listener without TLS, warn too', () => {
    const warnings = securityWarnings({ bleet: false, http: '0.0.0.0:8080' }, false);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /^NO ADMIN TOKEN/);
    assert.match(warnings[1]!, /^NO TLS/);
  });

  test('a node logs its warnings at warn level when it starts', async (t) => {
    // The bleet address says 0.0.0.0, but the bleets go over an in-memory network: nothing listens beyond loopback.
    const network = new MemoryNetwork();
    const start = async (extra: StartNodeOptions) => {
      const { logger, lines } = recordingLogger();
      await startTestNode(t, { logger, http: false, workers: 1, bleet: '0.0.0.0:0', transport: new MemoryTransport(network), ...extra });
      return lines.filter((l) => l.security === true);
    };
    const open = await start({});
    assert.equal(open.length, 2);
    assert.equal(open[0]!.level, 40);
    assert.match(open[0]!.msg, /^NO CLUSTER SECRET/);
    assert.match(open[1]!.msg, /^NO TLS/);
    const withSecret = await start({ secret: 's'.repeat(16) });
    assert.deepEqual(withSecret.map((l) => l.msg.split(':')[0]), ['NO TLS']);
  });
});

describe('TLS files', () => {
  test('off without tlsKey and tlsCert', async () => {
    assert.equal(await readTls({}), null);
  });

  test('a key, certificate and CA that fit are read', async (t) => {
    const { key, cert } = await selfSignedCert(t);
    const tls = await readTls({ tlsKey: key, tlsCert: cert, tlsCa: cert });
    assert.ok(tls !== null);
    assert.match(tls.cert.toString(), /BEGIN CERTIFICATE/);
    assert.match(tls.key.toString(), /PRIVATE KEY/);
    assert.deepEqual(tls.ca, tls.cert);
    assert.equal((await readTls({ tlsKey: key, tlsCert: cert }))!.ca, undefined);
  });

  test('a missing file is refused naming its option', async (t) => {
    const { key, cert } = await selfSignedCert(t);
    await assert.rejects(readTls({ tlsKey: `${key}.nope`, tlsCert: cert }), configInvalid(/option tlsKey: cannot read .*\.nope \(ENOENT\)/));
    await assert.rejects(readTls({ tlsKey: key, tlsCert: `${cert}.nope` }), configInvalid(/option tlsCert: cannot read/));
    await assert.rejects(readTls({ tlsKey: key, tlsCert: cert, tlsCa: `${cert}.nope` }), configInvalid(/option tlsCa: cannot read/));
  });

  test('a key that does not fit the certificate, or a file that is no PEM, is refused at start', async (t) => {
    const first = await selfSignedCert(t);
    const second = await selfSignedCert(t);
    await assert.rejects(readTls({ tlsKey: first.key, tlsCert: second.cert }), configInvalid(/options tlsKey\/tlsCert\/tlsCa: not a usable/));
    await assert.rejects(readTls({ tlsKey: first.cert, tlsCert: first.cert }), configInvalid(/not a usable/));
    await assert.rejects(
      startTestNode(t, { tlsKey: first.key, tlsCert: second.cert, http: '127.0.0.1:0' }),
      configInvalid(/not a usable/),
      'startNode rejects before starting anything',
    );
  });
});
