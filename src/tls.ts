/**
 * TLS material of a node: the key, certificate and CA files named by the
 * tlsKey, tlsCert and tlsCa options, read and checked once at start so a
 * wrong path or a key that does not fit its certificate stops the start with
 * a message naming the option, not the first connection.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { GrexConfigInput } from './config/options.js';
import { GrexError } from './errors.js';

export interface TlsMaterial {
  key: Buffer;
  cert: Buffer;
  /** CA that signs the peers' certificates; undefined: the system CAs. */
  ca?: Buffer;
}

async function readPem(option: 'tlsKey' | 'tlsCert' | 'tlsCa', path: string): Promise<Buffer> {
  const full = resolve(path);
  try {
    return await readFile(full);
  } catch (err) {
    throw new GrexError('GREX_ERR_CONFIG_INVALID', `option ${option}: cannot read ${full} (${(err as NodeJS.ErrnoException).code ?? err})`, { where: `option ${option}` });
  }
}

/** Reads the TLS files of a configuration; null when TLS is off. */
export async function readTls(config: Pick<GrexConfigInput, 'tlsKey' | 'tlsCert' | 'tlsCa'>): Promise<TlsMaterial | null> {
  if (config.tlsKey === undefined || config.tlsCert === undefined) return null;
  const key = await readPem('tlsKey', config.tlsKey);
  const cert = await readPem('tlsCert', config.tlsCert);
  const ca = config.tlsCa === undefined ? undefined : await readPem('tlsCa', config.tlsCa);
  try {
    createSecureContext({ key, cert, ...(ca === undefined ? {} : { ca }) });
  } catch (err) {
    throw new GrexError('GREX_ERR_CONFIG_INVALID', `options tlsKey/tlsCert/tlsCa: not a usable key, certificate and CA (${(err as Error).message})`, {
      where: 'options tlsKey/tlsCert/tlsCa',
    });
  }
  return ca === undefined ? { key, cert } : { key, cert, ca };
}
