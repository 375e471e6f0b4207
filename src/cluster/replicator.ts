/**
 * Replicated commit: the active node's own durable write and a `replicate`
 * bleet to every other herder of the flock, in parallel; done once the write
 * quorum is reached *and* the local write succeeded (the active node must
 * hold what it acknowledges), failed with GREX_ERR_QUORUM as soon as the
 * quorum can no longer be reached. A herder without a connection, or not
 * live, counts as a failure at once. Replication to the rest goes on in the
 * background after the answer.
 */
import { GrexError } from '../errors.js';
import { QuorumCount, type WriteQuorum } from './quorum.js';

export interface ReplicatedCommit {
  /** Herders of the flock, this node included. */
  herders: readonly string[];
  selfId: string;
  quorum: WriteQuorum;
  /** This node's durable write. */
  commitLocally: () => Promise<void>;
  /** Sends the change to another herder; resolves when it holds it durably. */
  sendTo: (nodeId: string) => Promise<void>;
  /** Told of each herder that did not take the change (for counters and logs). */
  onMiss?: (nodeId: string, err: unknown) => void;
}

/** Calls `fn` now; a synchronous throw becomes a rejection (so one bad herder cannot stop the others). */
function attempt(fn: () => Promise<void>): Promise<void> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}

export function replicatedCommit(options: ReplicatedCommit): Promise<void> {
  const others = options.herders.filter((id) => id !== options.selfId);
  if (others.length === 0) return options.commitLocally();
  const count = new QuorumCount(options.herders.length, options.quorum);
  return new Promise<void>((resolve, reject) => {
    let local: 'pending' | 'ok' = 'pending';
    let settled = false;
    const settle = () => {
      if (settled) return;
      if (count.state === 'reached' && local === 'ok') {
        settled = true;
        resolve();
      } else if (count.state === 'lost') {
        settled = true;
        reject(
          new GrexError('GREX_ERR_QUORUM', `the change reached ${count.acks} of ${count.total} herders; ${count.needed} are needed`, {
            acks: count.acks,
            needed: count.needed,
            herders: count.total,
          }),
        );
      }
    };
    attempt(options.commitLocally).then(
      () => {
        local = 'ok';
        count.ack();
        settle();
      },
      (err: unknown) => {
        // Without its own copy the active node cannot acknowledge, whatever the others did.
        if (!settled) {
          settled = true;
          reject(err);
        }
      },
    );
    for (const nodeId of others) {
      attempt(() => options.sendTo(nodeId)).then(
        () => {
          count.ack();
          settle();
        },
        (err: unknown) => {
          options.onMiss?.(nodeId, err);
          count.fail();
          settle();
        },
      );
    }
  });
}
