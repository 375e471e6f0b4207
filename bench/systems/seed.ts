/** Seeding over HTTP: every customer's seed list PUT as msgpack, a few at a time. */
import { encodedSeedList } from '../workload.js';

export async function putLists(urlOf: (key: string) => string, keys: string[], records: number, concurrency = 16): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      const res = await fetch(urlOf(key), {
        method: 'PUT',
        headers: { 'content-type': 'application/msgpack' },
        body: encodedSeedList(key, records),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`seeding ${key}: ${res.status} ${text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
}

export async function fetchJson(url: string, init: RequestInit = {}): Promise<any> {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}
