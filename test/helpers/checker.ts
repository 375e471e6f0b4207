/**
 * The checker of the fault tests: clients run counting jobs (`counter`, or
 * appends whose count is the list length) on a set of
 * buckets through faults and record every outcome; afterwards the counts and
 * the replicas are checked against what was acknowledged.
 *
 * Outcomes: acknowledged (the job's answer arrived), failed (an error that
 * says the job did not run: it cannot have changed anything) and
 * indeterminate (anything else: a timeout, a lost connection, a quorum not
 * reached — the change may or may not have been stored).
 */

/** Errors that prove the job changed nothing (it was refused before it ran). */
export const DEFINITE_FAILURES: ReadonlySet<string> = new Set([
  'GREX_ERR_KEY_INVALID',
  'GREX_ERR_JOB_NAME_INVALID',
  'GREX_ERR_JOB_NOT_FOUND',
  'GREX_ERR_BODY_MALFORMED',
  'GREX_ERR_NOT_READY',
  'GREX_ERR_NOT_ACTIVE',
  'GREX_ERR_FLOCK_UNASSIGNED',
  'GREX_ERR_FLOCK_UNAVAILABLE',
  'GREX_ERR_OVERLOADED',
  'GREX_ERR_SHUTTING_DOWN',
]);

export interface BucketHistory {
  acknowledged: number;
  failed: number;
  indeterminate: number;
  /** Counts the acknowledged answers returned, in order. */
  counts: number[];
  /** Error codes seen, for the report. */
  errors: Map<string, number>;
}

export class Checker {
  readonly buckets = new Map<string, BucketHistory>();

  #history(bucket: string): BucketHistory {
    let h = this.buckets.get(bucket);
    if (h === undefined) this.buckets.set(bucket, (h = { acknowledged: 0, failed: 0, indeterminate: 0, counts: [], errors: new Map() }));
    return h;
  }

  acknowledged(bucket: string, count: number): void {
    const h = this.#history(bucket);
    h.acknowledged++;
    h.counts.push(count);
  }

  failed(bucket: string, code: string | undefined): void {
    const h = this.#history(bucket);
    const key = code ?? 'NETWORK';
    h.errors.set(key, (h.errors.get(key) ?? 0) + 1);
    if (code !== undefined && DEFINITE_FAILURES.has(code)) h.failed++;
    else h.indeterminate++;
  }

  /**
   * Problems found, given each bucket's final count. One sequential client per
   * bucket: every acknowledged count must exceed the one acknowledged before
   * (no client reads a count lower than one it had), and the final count lies
   * between the acknowledged increments and those plus the indeterminate ones.
   */
  problems(finalCounts: ReadonlyMap<string, number>): string[] {
    const problems: string[] = [];
    for (const [bucket, h] of this.buckets) {
      for (let i = 1; i < h.counts.length; i++) {
        if (h.counts[i]! <= h.counts[i - 1]!) problems.push(`${bucket}: acknowledged count ${h.counts[i]} after ${h.counts[i - 1]} (went back)`);
      }
      const final = finalCounts.get(bucket);
      if (final === undefined) {
        problems.push(`${bucket}: no final count`);
        continue;
      }
      const highest = h.counts.length === 0 ? 0 : Math.max(...h.counts);
      if (final < highest) problems.push(`${bucket}: final count ${final} is below an acknowledged count ${highest}`);
      if (final < h.acknowledged) problems.push(`${bucket}: final count ${final} < ${h.acknowledged} acknowledged increments (an acknowledged write was lost)`);
      if (final > h.acknowledged + h.indeterminate) {
        problems.push(`${bucket}: final count ${final} > ${h.acknowledged} acknowledged + ${h.indeterminate} indeterminate (a failed write was applied)`);
      }
    }
    return problems;
  }

  summary(): string {
    const lines: string[] = [];
    for (const [bucket, h] of this.buckets) {
      const errors = [...h.errors].map(([code, n]) => `${code.replace('GREX_ERR_', '')}×${n}`).join(' ');
      lines.push(`${bucket}: ${h.acknowledged} ack, ${h.failed} failed, ${h.indeterminate} indeterminate${errors === '' ? '' : ` (${errors})`}`);
    }
    return lines.join('\n');
  }
}
