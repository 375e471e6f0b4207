/**
 * Replicated commit: the active node's own durable write and a `replicate`
 * bleet to every other herder of the flock, in parallel; done once the write
 * quorum is reached *and* the local write succeeded (the active node must
 * hold what it acknowledges), failed with GREX_ERR_QUORUM as soon as the
 * quorum can no longer be reached. A herder without a connection, or not
 * live, counts as a failure at once. Replication to the rest goes on in the
 * background after the answer.
 *
 * A write may carry deltas (appends, store/item-delta.ts) instead of whole
 * items. A herder applies a delta only on top of the exact version it was
 * made on; one that holds another version says so, and gets the whole item
 * instead (replicateTo).
 */
import { GrexError } from '../errors.js';
import { deltaFit } from '../store/item-delta.js';
import { encodeItemRecordParts, type ItemRecord, type RecordBytes } from '../store/item-record.js';
import { compareVersions, formatVersion, NO_VERSION, type Version } from '../store/version.js';
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

// ---- deltas ----

/** What a herder holds of an item: its version, undefined when absent, 'damaged' when its copy fails its checksum. */
export type HeldVersion = Version | undefined | 'damaged';

/**
 * What a herder does with a replicated record: `store` it, pass over one it
 * already `held` (that version or newer), or name it `missing`: a delta
 * whose base it does not hold cannot be applied, and it must get the whole
 * item. A whole record replaces a damaged copy; a delta never builds on one.
 */
export function replicaAction(record: ItemRecord, held: HeldVersion): 'store' | 'held' | 'missing' {
  if (record.delta !== true) {
    return held === undefined || held === 'damaged' || compareVersions(held, record.version) < 0 ? 'store' : 'held';
  }
  if (held === 'damaged') return 'missing';
  const fit = deltaFit(held ?? NO_VERSION, record);
  return fit === 'applies' ? 'store' : fit === 'held' ? 'held' : 'missing';
}

/** A herder's answer to a replicate bleet. */
export interface ReplicateAnswer {
  applied: number;
  /** [bucketKey, itemKey] of deltas it could not apply (it lacks their base). */
  missing: [string, string][];
  /** False: the receiver is a learner of the flock (its word does not count). */
  herding: boolean;
}

export interface ReplicateTo {
  /** The write's records, and their encodings as sent (heads and payloads: nothing copied). */
  records: readonly ItemRecord[];
  encoded: RecordBytes[];
  /** Sends encoded records to the herder. */
  send: (records: RecordBytes[]) => Promise<ReplicateAnswer>;
  /** Resolves once this node stored the write itself. */
  storedHere: () => Promise<void>;
  /** The whole item as this node holds it now (tombstones included). */
  readWhole: (bucketKey: string, itemKey: string) => Promise<ItemRecord | undefined>;
  /** Told of each item sent whole because the herder lacked a delta's base. */
  onWhole?: (record: ItemRecord) => void;
}

/**
 * Replicates one write to one herder. Deltas the herder cannot apply are
 * sent again as whole items: read here once this node stored the write, so
 * never older than the delta they stand for. Resolves once the herder holds
 * every record (or a newer version of its item), with whether it herds the
 * flock (a learner's acknowledgement does not count).
 */
export async function replicateTo(options: ReplicateTo): Promise<boolean> {
  const answer = await options.send(options.encoded);
  if (answer.missing.length === 0) return answer.herding;
  await options.storedHere();
  const whole: RecordBytes[] = [];
  for (const [bucketKey, itemKey] of answer.missing) {
    const sent = options.records.find((r) => r.delta === true && r.bucketKey === bucketKey && r.itemKey === itemKey);
    if (sent === undefined) throw new GrexError('GREX_ERR_BLEET_INVALID', `the herder named ${bucketKey}/${itemKey} missing, which this write did not append to`);
    const record = await options.readWhole(bucketKey, itemKey);
    if (record === undefined || compareVersions(record.version, sent.version) < 0) {
      throw new GrexError('GREX_ERR_INTERNAL', `item ${bucketKey}/${itemKey} is no longer here at version ${formatVersion(sent.version)} or newer: cannot send it whole`);
    }
    options.onWhole?.(record);
    whole.push(encodeItemRecordParts(record));
  }
  const again = await options.send(whole);
  if (again.missing.length > 0) throw new GrexError('GREX_ERR_BLEET_INVALID', 'the herder refused whole items as missing a base');
  return answer.herding && again.herding;
}
