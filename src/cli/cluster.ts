/**
 * `grex cluster`: a local cluster for trying Grex out — N `grex start`
 * processes on 127.0.0.1, the first one seeding the rest, each with its own
 * data folder. Ctrl-C (or SIGTERM) stops them all gracefully.
 *
 *   grex cluster [--nodes 3] [--http 127.0.0.1:8081] [--bleet 127.0.0.1:9081]
 *                [--data ./grex-cluster] [any grex start option]
 *
 * Ports count up from the given ones (port 0: each node picks its own).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GrexError } from '../errors.js';

const MAIN = fileURLToPath(new URL('./grex.cjs', import.meta.url));

interface Started {
  name: string;
  child: ChildProcess;
  url: string;
  bleetUrl: string;
}

function withPort(address: string, offset: number): string {
  const separator = address.lastIndexOf(':');
  const port = Number(address.slice(separator + 1));
  if (!Number.isInteger(port) || port < 0 || port + offset > 65535) {
    throw new GrexError('GREX_ERR_CONFIG_INVALID', `${address}: expected host:port`);
  }
  return `${address.slice(0, separator)}:${port === 0 ? 0 : port + offset}`;
}

function startOne(name: string, args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [MAIN, 'start', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let buffer = '';
    let ready = false;
    const onLine = (line: string) => {
      process.stdout.write(`[${name}] ${line}\n`);
      if (ready) return;
      try {
        const entry = JSON.parse(line) as { url?: string; bleetUrl?: string; msg?: string };
        if (entry.url !== undefined && entry.msg?.includes('ready')) {
          ready = true;
          resolve({ name, child, url: entry.url, bleetUrl: entry.bleetUrl ?? '' });
        }
      } catch {
        // not a log line of ours
      }
    };
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      lines.forEach(onLine);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => process.stderr.write(`[${name}] ${chunk}`));
    child.on('exit', (code) => {
      if (!ready) reject(new GrexError('GREX_ERR_CONFIG_INVALID', `${name} exited with ${code} before it was ready`));
    });
  });
}

export async function cluster(argv: string[]): Promise<void> {
  const { values, tokens } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string' },
      http: { type: 'string' },
      bleet: { type: 'string' },
      data: { type: 'string' },
    },
    strict: false,
    tokens: true,
  });
  const count = Number(values.nodes ?? 3);
  if (!Number.isInteger(count) || count < 1 || count > 32) throw new GrexError('GREX_ERR_CONFIG_INVALID', '--nodes: expected 1 to 32');
  const http = typeof values.http === 'string' ? values.http : '127.0.0.1:8081';
  const bleet = typeof values.bleet === 'string' ? values.bleet : '127.0.0.1:9081';
  const data = typeof values.data === 'string' ? values.data : './grex-cluster';
  // Every other flag goes to each node as it is.
  const own = new Set(['nodes', 'http', 'bleet', 'data']);
  const passOn: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'option' && !own.has(token.name)) {
      passOn.push(token.rawName);
      if (token.value !== undefined) passOn.push(token.value);
    } else if (token.kind === 'positional') {
      passOn.push(token.value);
    }
  }
  const started: Started[] = [];
  const stopAll = async () => {
    await Promise.all(
      started.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.child.exitCode !== null) return resolve();
            s.child.once('exit', () => resolve());
            s.child.kill('SIGTERM');
          }),
      ),
    );
  };
  const argsOf = (i: number) => {
    const name = `node-${i + 1}`;
    const args = ['--http', withPort(http, i), '--bleet', withPort(bleet, i), '--data', join(data, name), '--node-id', name, ...passOn];
    if (i > 0) args.push('--peers', started[0]!.bleetUrl.replace(/^wss?:\/\//, ''));
    return [name, args] as const;
  };
  try {
    started.push(await startOne(...argsOf(0)));
    // The others only need the first one's address: they start together (three nodes at load
    // 16 on 2 cores: 12 s, against 31 s one after another).
    const others = await Promise.allSettled(Array.from({ length: count - 1 }, (_, i) => startOne(...argsOf(i + 1))));
    for (const other of others) if (other.status === 'fulfilled') started.push(other.value);
    const failed = others.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  } catch (err) {
    await stopAll();
    throw err;
  }
  process.stdout.write(`Grex cluster of ${count} nodes: ${started.map((s) => s.url).join(' ')}\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      void stopAll().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    for (const s of started) s.child.once('exit', () => stop());
  });
}
