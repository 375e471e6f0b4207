/**
 * The active node's commits: fenced by its term (checked under the flock's
 * gate), written here and replicated to every other herder and learner, and
 * acknowledged once the write quorum of in-sync herders holds the write
 * (replicator.ts). A herder that misses a write is out of sync until its
 * next sync; a stale-term refusal or a missed quorum makes this node step
 * down, so the next claim's merge decides what stays.
 */
import { GrexError } from '../errors.js';
import { encodeItemRecordParts, type ItemRecord, type RecordBytes } from '../store/item-record.js';
import { staleTerm } from './flock-wire.js';
import type { HerderSync } from './herder-sync.js';
import { markUnsynced, type Leading, type LeadershipOptions, type LeadershipState } from './leadership-state.js';
import { quorumSize } from './quorum.js';
import { replicatedCommit, replicateTo } from './replicator.js';

export class FencedCommits {
  readonly #s: LeadershipState;
  readonly #o: LeadershipOptions;
  readonly #sync: HerderSync;

  constructor(state: LeadershipState, sync: HerderSync) {
    this.#s = state;
    this.#o = state.o;
    this.#sync = sync;
  }

  /**
   * Commits a change as the flock's active node: fenced by the term (checked
   * under the flock's gate, so no promise of a newer term can slip in), written
   * locally and to every other herder, acknowledged once the write quorum of
   * in-sync herders holds it.
   */
  commit(flock: number, records: ItemRecord[], commitLocally: () => Promise<void>): Promise<void> {
    return this.#o.gates.shared(flock, async () => {
      const leading = this.#s.leading.get(flock);
      const term = records[0]?.version.term ?? 0;
      if (leading === undefined || leading.term !== term) throw staleTerm(flock, leading?.term ?? 0, 'commit', true);
      const promised = await this.#o.clock.promised(flock);
      if (promised !== term) {
        this.#s.stepDown(flock, `promised term ${promised}`);
        throw staleTerm(flock, promised, 'commit', true);
      }
      const route = this.#o.cluster.route(flock);
      const recipients = [...new Set([...route.herders, ...route.learners])].filter((id) => id !== this.#o.selfId);
      const counted = this.#s.counted(flock, leading);
      if (1 + inSync(leading, counted) < quorumSize(counted.length, this.#o.writeQuorum)) await this.#enoughInSync(flock, leading, counted);
      // Encoded once, and only if there is another herder to send them to.
      let encoded: RecordBytes[] | null = null;
      let stale: GrexError | null = null;
      // A herder lacking an append's base gets the whole item, read here once stored here.
      let local: Promise<void> | null = null;
      const storedHere = () => (local ??= commitLocally());
      // Learners get every write (less to copy), but their word counts for nothing.
      for (const nodeId of recipients) {
        if (leading.outsiders.has(nodeId) && this.#o.cluster.isLive(nodeId)) {
          encoded ??= records.map(encodeItemRecordParts);
          this.#replicate(leading, nodeId, flock, term, records, encoded, storedHere).catch(() => {});
        }
      }
      const attempt = (herders: string[]) =>
        replicatedCommit({
        herders,
        selfId: this.#o.selfId,
        quorum: this.#o.writeQuorum,
        commitLocally: storedHere,
        sendTo: async (nodeId) => {
          const inSync = leading.synced.has(nodeId);
          encoded ??= records.map(encodeItemRecordParts);
          const sent = this.#replicate(leading, nodeId, flock, term, records, encoded, storedHere).catch((err: GrexError) => {
            if (err.code === 'GREX_ERR_STALE_TERM') stale = err;
            throw err;
          });
          if (!inSync) {
            // It still gets the write (less to catch up), but its word does not count.
            sent.catch(() => {});
            throw new GrexError('GREX_ERR_QUORUM', `herder ${nodeId} is catching up`);
          }
          if (!(await sent)) throw new GrexError('GREX_ERR_QUORUM', `node ${nodeId} does not herd flock ${flock}`);
        },
        onMiss: () => {
          this.#o.cluster.counters.replicationFailures++;
        },
      });
      try {
        await attempt(counted);
      } catch (err) {
        // A node answered that it no longer herds the flock (it just dropped it): count without it, once.
        const now = this.#s.counted(flock, leading);
        const retry = (err as GrexError).code === 'GREX_ERR_QUORUM' && stale === null && now.length < counted.length;
        if (!retry) {
          if ((err as GrexError).code === 'GREX_ERR_QUORUM') this.#missedQuorum(flock);
          throw stale ?? err;
        }
        await attempt(now).catch((again: unknown) => {
          if ((again as GrexError).code === 'GREX_ERR_QUORUM') this.#missedQuorum(flock);
          throw stale ?? again;
        });
      }
      if (stale !== null) throw stale;
    });
  }

  /**
   * A write missed its quorum: it stays in this node's copy, maybe nowhere
   * else, and jobs here would read it as if acknowledged. Step down: the next
   * job claims the flock again, and that claim's merge decides whether the
   * write stays (see planMerge).
   */
  #missedQuorum(flock: number): void {
    this.#o.cluster.counters.quorumFailures++;
    this.#s.stepDown(flock, 'a write missed its quorum');
  }

  /**
   * Right after a claim (or a herder's reconnect) too few herders may be in
   * sync for a write quorum while syncs are on their way: wait for them (up
   * to the bleet timeout) rather than fail the write at once.
   */
  async #enoughInSync(flock: number, leading: Leading, herders: readonly string[]): Promise<void> {
    const needed = quorumSize(herders.length, this.#o.writeQuorum);
    if (herders.length <= 1) return;
    const deadline = Date.now() + this.#o.bleetTimeoutMs;
    while (1 + inSync(leading, herders) < needed && Date.now() < deadline && this.#s.leading.get(flock) === leading) {
      const candidates = herders.filter((id) => id !== this.#o.selfId && !leading.synced.has(id) && this.#o.cluster.isLive(id) && this.#o.cluster.linkTo(id) !== undefined);
      if (1 + inSync(leading, herders) + candidates.length < needed) return; // cannot get there: fail the quorum now
      for (const id of candidates) if (!leading.syncing.has(id)) void this.#sync.sync(flock, leading, id);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        leading.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends a write to a node; resolves with whether it herds the flock (its word counts). */
  async #replicate(
    leading: Leading,
    nodeId: string,
    flock: number,
    term: number,
    records: readonly ItemRecord[],
    encoded: RecordBytes[],
    storedHere: () => Promise<void>,
  ): Promise<boolean> {
    if (!this.#o.cluster.isLive(nodeId)) {
      markUnsynced(leading, nodeId);
      throw new GrexError('GREX_ERR_PEER_UNAVAILABLE', `herder ${nodeId} is dead`);
    }
    const started = performance.now();
    try {
      const herding = await replicateTo({
        records,
        encoded,
        send: (sent) => this.#o.cluster.request(nodeId, 'replicate', { flock, term, records: sent }),
        storedHere,
        readWhole: (bucketKey, itemKey) => this.#o.store.read(flock, bucketKey, itemKey),
        onWhole: () => void this.#s.counters.wholeResends++,
      });
      this.#o.onReplicated?.((performance.now() - started) / 1000);
      if (!herding) leading.outsiders.add(nodeId);
      return herding;
    } catch (err) {
      this.#o.onReplicated?.((performance.now() - started) / 1000, err);
      markUnsynced(leading, nodeId);
      if ((err as GrexError).code === 'GREX_ERR_STALE_TERM') {
        this.#s.outbid(flock, err as GrexError);
        this.#s.stepDown(flock, `herder ${nodeId} promised a newer term`);
      }
      if ((err as GrexError).code === 'GREX_ERR_NOT_HERDER') leading.outsiders.add(nodeId);
      throw err;
    }
  }
}

/**
 * Counted herders in sync (the active node itself left out): `synced` may still
 * name a node that dropped the flock since, which must not make a quorum look
 * reachable without waiting for syncs.
 */
function inSync(leading: Leading, counted: readonly string[]): number {
  return counted.reduce((n, id) => n + (leading.synced.has(id) ? 1 : 0), 0);
}
