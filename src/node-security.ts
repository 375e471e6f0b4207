/**
 * The security-related start-up of a node: its cluster secret (given inline
 * or in a file) and the warnings a node logs when it is reachable from other
 * machines without protection. Pure apart from reading the secret file.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { GrexConfig, GrexConfigInput } from './config/options.js';
import { GrexError } from './errors.js';

/** The cluster secret from `secret` or `secretFile`; undefined when neither is set. */
export async function readClusterSecret(config: Pick<GrexConfigInput, 'secret' | 'secretFile'>): Promise<string | undefined> {
  if (config.secretFile === undefined) return config.secret;
  const full = resolve(config.secretFile);
  let text: string;
  try {
    text = await readFile(full, 'utf8');
  } catch (err) {
    throw new GrexError('GREX_ERR_CONFIG_INVALID', `option secretFile: cannot read ${full} (${(err as NodeJS.ErrnoException).code ?? err})`, { where: 'option secretFile' });
  }
  const secret = text.trim();
  if (secret.length < 16) {
    throw new GrexError('GREX_ERR_CONFIG_INVALID', `option secretFile: ${full} holds ${secret.length} characters; use at least 16`, { where: 'option secretFile' });
  }
  return secret;
}

/** Whether a listen host is reachable only from this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':'));
}

/** What a node should warn about at start, loudly: listeners open to the network without protection. */
export function securityWarnings(config: Pick<GrexConfig, 'bleet' | 'http'> & Pick<GrexConfigInput, 'adminToken' | 'tlsKey'>, hasSecret: boolean): string[] {
  const warnings: string[] = [];
  if (config.bleet !== false && !isLoopbackHost(hostOf(config.bleet)) && !hasSecret) {
    warnings.push(
      `NO CLUSTER SECRET: the bleet listener ${config.bleet} accepts peers from any machine that can reach it, and they can read and change every bucket. Give every node the same --secret / GREX_SECRET / --secret-file.`,
    );
  }
  if (config.http !== false && !isLoopbackHost(hostOf(config.http)) && config.adminToken === undefined) {
    warnings.push(`NO ADMIN TOKEN: the admin endpoints of ${config.http} are open to anyone who can reach it. Set --admin-token / GREX_ADMIN_TOKEN.`);
  }
  const exposed = (config.bleet !== false && !isLoopbackHost(hostOf(config.bleet))) || (config.http !== false && !isLoopbackHost(hostOf(config.http)));
  if (exposed && config.tlsKey === undefined) {
    warnings.push('NO TLS: HTTP and bleets travel in plaintext on the network. Set --tls-key and --tls-cert (and --tls-ca for the peers).');
  }
  return warnings;
}
