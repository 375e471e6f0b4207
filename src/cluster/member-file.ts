/**
 * The member table kept in the data folder (`members.json`), so that a
 * restarted node can dial the members it knew even when its seeds are down.
 * Best effort: a missing or unreadable file just means "no members known".
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readMember } from './bleet-messages.js';
import type { MemberInfo } from './membership.js';

const FILE = 'members.json';

export async function loadMembers(dataDir: string): Promise<MemberInfo[]> {
  try {
    const parsed = JSON.parse(await readFile(join(dataDir, FILE), 'utf8')) as unknown;
    return Array.isArray(parsed) ? parsed.map(readMember) : [];
  } catch {
    return [];
  }
}

/** Writes the table; calls made while a write is running are folded into the next one. */
export function memberSaver(dataDir: string, onError: (err: Error) => void): (members: MemberInfo[]) => void {
  let latest: MemberInfo[] | null = null;
  let writing = false;
  const flush = async () => {
    writing = true;
    while (latest !== null) {
      const members = latest;
      latest = null;
      try {
        const tmp = join(dataDir, `${FILE}.tmp`);
        await writeFile(tmp, JSON.stringify(members, null, 1));
        await rename(tmp, join(dataDir, FILE));
      } catch (err) {
        onError(err as Error);
      }
    }
    writing = false;
  };
  return (members) => {
    latest = members;
    if (!writing) void flush();
  };
}
