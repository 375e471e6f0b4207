/**
 * Read repair: an item that failed its checksum on this node is replaced by
 * the newest copy among the flock's other herders, when enough of them
 * answer to be sure that copy is the newest acknowledged one. Called on a
 * damaged read (grex-node.ts) and by anti-entropy for damaged items it finds.
 */
import { GrexError } from '../errors.js';
import { decodeRecordBytes, type ItemRecord, type RecordBytes } from '../store/item-record.js';
import { compareVersions } from '../store/version.js';
import type { LeadershipState } from './leadership-state.js';
import { quorumSize } from './quorum.js';

/**
 * An item failed its checksum here: takes the newest copy among the other
 * herders and stores it. Enough of them must answer that any write quorum
 * without this node's copy includes one of them; otherwise the newest
 * acknowledged version might be the damaged one, and the item stays an error.
 */
export async function repairItem(s: LeadershipState, flock: number, bucketKey: string, itemKey: string): Promise<ItemRecord | undefined> {
  const o = s.o;
  const leading = s.leading.get(flock);
  const herders = leading === undefined ? o.cluster.route(flock).herders : s.counted(flock, leading);
  const others = herders.filter((id) => id !== o.selfId);
  const needed = Math.max(0, herders.length - quorumSize(herders.length, o.writeQuorum) + 1);
  const answers = await Promise.allSettled(
    others.map((nodeId) => o.cluster.request(nodeId, 'fetch', { flock, keys: [[bucketKey, itemKey]] })),
  );
  const ok = answers.filter((a): a is PromiseFulfilledResult<{ records: RecordBytes[] }> => a.status === 'fulfilled');
  if (ok.length < needed) {
    throw new GrexError('GREX_ERR_STORE_CORRUPT', `item ${bucketKey}/${itemKey} is damaged here and too few herders answered to repair it (${ok.length} of ${needed})`);
  }
  let best: ItemRecord | undefined;
  for (const answer of ok) {
    for (const bytes of answer.value.records) {
      const record = decodeRecordBytes(bytes, `repair copy of ${bucketKey}/${itemKey}`);
      if (best === undefined || compareVersions(best.version, record.version) < 0) best = record;
    }
  }
  if (best === undefined) {
    throw new GrexError('GREX_ERR_STORE_CORRUPT', `item ${bucketKey}/${itemKey} is damaged here and no other herder has a copy`);
  }
  await s.serially(flock, () => s.applyForced(flock, [best]));
  s.counters.repairs++;
  o.logger.warn({ flock, bucketKey, itemKey, version: best.version }, 'repaired a damaged item from a herder');
  return best.tombstone ? undefined : best;
}
