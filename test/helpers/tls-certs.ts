/** TLS certificates made by the test with the openssl CLI, for 127.0.0.1. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from './temp-dir.js';

const run = promisify(execFile);

export interface TestCert {
  /** PEM private key file. */
  key: string;
  /** PEM certificate file; self-signed, so it is also the CA file peers and clients trust. */
  cert: string;
}

/** A self-signed EC certificate for CN and subjectAltName IP 127.0.0.1, valid for a day; removed after the test. */
export async function selfSignedCert(t: Pick<TestContext, 'after'>): Promise<TestCert> {
  const dir = await tempDir(t, 'grex-tls-');
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ]);
  return { key, cert };
}
