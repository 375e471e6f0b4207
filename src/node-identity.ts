/**
 * A node's stable id: given by the operator, or generated once and kept in
 * the data folder so that a restarted node is the same member of its cluster.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GrexError } from './errors.js';

const NODE_ID_FILE = 'node-id';
const NODE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export function generateNodeId(): string {
  return `n-${randomBytes(6).toString('hex')}`;
}

/** The id kept in `dataDir`, creating it on first start (or recording `given`). */
export async function loadNodeId(dataDir: string, given?: string): Promise<string> {
  const file = join(dataDir, NODE_ID_FILE);
  let stored: string | undefined;
  try {
    stored = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new GrexError('GREX_ERR_STORE_IO', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`);
    }
  }
  if (stored !== undefined && NODE_ID_PATTERN.test(stored)) {
    if (given !== undefined && given !== stored) {
      throw new GrexError('GREX_ERR_CONFIG_INVALID', `nodeId: ${given} given, but ${dataDir} belongs to node ${stored}`);
    }
    return stored;
  }
  const id = given ?? generateNodeId();
  await mkdir(dataDir, { recursive: true });
  await writeFile(`${file}.tmp`, `${id}\n`);
  await rename(`${file}.tmp`, file);
  return id;
}
