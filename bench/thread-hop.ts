/**
 * What one message to a job thread and back costs the main thread: piscina's
 * per-task path (as the job pool uses it, `atomics` on and off) against a
 * plain MessagePort to a worker that answers on it. Trivial tasks, 32 in
 * flight, 2 threads; main-thread CPU per message from /proc (Linux), so the
 * figure holds up on a busy machine better than the rate does.
 *
 *   npm run build && node dist/bench/thread-hop.js [--messages 40000] [--in-flight 32] [--batch 1]
 *
 * Prints a table; writes nothing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '40000' }, 'in-flight': { type: 'string', default: '32' }, batch: { type: 'string', default: '1' } } });
const MESSAGES = Number(values.messages);
const IN_FLIGHT = Number(values['in-flight']);
const BATCH = Number(values.batch);

/** CPU time of the main thread in µs (utime + stime of its task, in clock ticks of 10 ms). */
function mainThreadCpuUs(): number {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

const jobs = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i, x: i, bucketKey: 'customer-1', data: '{"a":1}' }));

async function measure(send: (n: number) => Promise<unknown>): Promise<{ perSecond: number; mainUs: number }> {
  let sent = 0;
  let done = 0;
  const cpu = mainThreadCpuUs();
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (sent < MESSAGES && sent - done < IN_FLIGHT) {
        sent += BATCH;
        void send(BATCH).then(() => {
          done += BATCH;
          if (done >= MESSAGES) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  const ms = performance.now() - started;
  return { perSecond: Math.round((MESSAGES / ms) * 1000), mainUs: (mainThreadCpuUs() - cpu) / MESSAGES };
}

const dir = await mkdtemp(join(tmpdir(), 'grex-hop-'));
const taskFile = join(dir, 'task.mjs');
const workerFile = join(dir, 'worker.mjs');
writeFileSync(taskFile, 'export default (t) => t.jobs.map((j) => ({ id: j.id, r: j.x + 1 }));\n');
writeFileSync(
  workerFile,
  "import { parentPort } from 'node:worker_threads';\nparentPort.once('message', (port) => port.on('message', (m) => port.postMessage(m.jobs.map((j) => ({ id: j.id, r: j.x + 1 })))));\n",
);
const rows: [string, { perSecond: number; mainUs: number }][] = [];
try {
  for (const atomics of ['sync', 'disabled'] as const) {
    const pool = new Piscina({ filename: taskFile, minThreads: 2, maxThreads: 2, atomics, concurrentTasksPerWorker: 1000 });
    const send = (n: number) => pool.run({ jobs: jobs(n) });
    await measure(send); // warm-up
    rows.push([`piscina run (atomics ${atomics})`, await measure(send)]);
    await pool.destroy();
  }
  const ports: { port: MessagePort; waiting: (() => void)[]; worker: Worker }[] = [];
  for (let i = 0; i < 2; i++) {
    const worker = new Worker(workerFile);
    const { port1, port2 } = new MessageChannel();
    worker.postMessage(port2, [port2]);
    const entry = { port: port1, waiting: [] as (() => void)[], worker };
    port1.on('message', () => entry.waiting.shift()!());
    ports.push(entry);
  }
  let next = 0;
  const direct = (n: number) =>
    new Promise<void>((resolve) => {
      const entry = ports[next++ % ports.length]!;
      entry.waiting.push(resolve);
      entry.port.postMessage({ jobs: jobs(n) });
    });
  await measure(direct);
  rows.push(['MessagePort to the thread', await measure(direct)]);
  for (const { port, worker } of ports) {
    port.close();
    await worker.terminate();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
console.log(`${MESSAGES} messages, ${IN_FLIGHT} in flight, ${BATCH} job(s) per message, 2 threads`);
console.log('| path | messages/s | main-thread CPU per message (µs) |\n|---|---:|---:|');
for (const [name, r] of rows) console.log(`| ${name} | ${r.perSecond} | ${(r.mainUs * BATCH).toFixed(1)} |`);
