/**
 * What peer authentication and TLS cost when a bleet connection opens
 * (connections between nodes are long-lived, so this is paid once per
 * peer and reconnect, not per bleet).
 *
 *   npm run build && node dist/bench/bleet-connect.js [connections]
 *
 * Opens and closes `connections` (default 300) connections one after the
 * other over loopback: plain ws, ws with the secret's handshake, wss (a
 * self-signed certificate made with openssl), wss with the handshake.
 * Prints the median of three rounds of the mean time per connection;
 * writes nothing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AuthenticatedTransport } from '../src/cluster/authenticated-transport.js';
import type { Transport } from '../src/cluster/transport.js';
import { WsTransport, type WsTlsOptions } from '../src/cluster/ws-transport.js';
import { machine } from './report.js';

const connections = Number(process.argv[2] ?? 300);
const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'grex-bench-tls-'));

function selfSigned(): WsTlsOptions {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { key: readFileSync(key), cert: readFileSync(cert), ca: readFileSync(cert) };
}

/** Mean ms per connection of `count` connections opened and closed one after the other. */
async function measure(tls: WsTlsOptions | undefined, secret: boolean, count: number): Promise<number> {
  const make = (selfId: string): Transport => {
    const ws = new WsTransport({ host: '127.0.0.1', port: 0, maxFrameBytes: 1 << 20, ...(tls === undefined ? {} : { tls }) });
    return secret ? new AuthenticatedTransport(ws, { secret: 'bench-secret-0123456789abcdef', selfId, logger, maxPending: count }) : ws;
  };
  const server = make('server');
  const url = await server.listen(() => {});
  const client = make('client');
  const started = performance.now();
  for (let i = 0; i < count; i++) (await client.dial(url)).close('done');
  const perConnectionMs = (performance.now() - started) / count;
  await client.close();
  await server.close();
  return perConnectionMs;
}

try {
  console.log(`${machine()}; ${connections} connections each`);
  const tls = selfSigned();
  const kinds: [string, WsTlsOptions | undefined, boolean][] = [
    ['ws', undefined, false],
    ['ws+secret', undefined, true],
    ['wss', tls, false],
    ['wss+secret', tls, true],
  ];
  for (const [, kindTls, secret] of kinds) await measure(kindTls, secret, 50); // warm-up
  // Three rounds, interleaved so a busy moment of the machine spreads over all kinds; the median is shown.
  const rounds = new Map<string, number[]>();
  for (let round = 0; round < 3; round++) {
    for (const [label, kindTls, secret] of kinds) rounds.set(label, [...(rounds.get(label) ?? []), await measure(kindTls, secret, connections)]);
  }
  for (const [label, times] of rounds) console.log(`${label.padEnd(12)} ${times.sort((a, b) => a - b)[1]!.toFixed(2)} ms per connection`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
