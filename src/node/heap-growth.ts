/**
 * The heapGrowthPercent option: V8's heap growing factor, set for the whole
 * process (every isolate, the job threads' too).
 *
 * Why it matters here: V8 counts the buffers a node allocates (request
 * bodies, log records, item files waiting to be written) against the old
 * generation, and with its default factor (up to 4× what was live on a
 * machine with several GiB) ~60 MB of dead buffers pile up between full
 * collections; glibc keeps the pages they used. A lower factor collects
 * sooner; a higher one collects less often where large items make a small
 * heap's limit come round several times a second. The flag is read at each
 * collection, so setting it after V8 has started takes effect (node ≥ 20
 * does not freeze flags after start). It stays set when the node stops.
 */
import { setFlagsFromString } from 'node:v8';

/** The V8 flag for a growth percent. */
export function heapGrowthFlag(percent: number): string {
  return `--heap-growing-percent=${percent}`;
}

/** Applies the option; leaves V8's own heuristics alone when it is unset. */
export function applyHeapGrowth(percent: number | undefined): void {
  if (percent !== undefined) setFlagsFromString(heapGrowthFlag(percent));
}
