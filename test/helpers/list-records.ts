// Item records of a list item 'list' in bucket 'b', for store tests: the whole
// list, and a list-append delta on a base version (src/store/item-delta.ts).
import { itemCodec } from '../../src/codec.js';
import { encodeListAppend } from '../../src/store/item-delta.js';
import type { ItemRecord } from '../../src/store/item-record.js';
import type { Version } from '../../src/store/version.js';

export const v = (seq: number, term = 1): Version => ({ term, seq });

/** The whole list `value` at version (term, seq). */
export function listRecord(seq: number, value: unknown, term = 1): ItemRecord {
  return { bucketKey: 'b', itemKey: 'list', version: v(seq, term), tombstone: false, encoding: 'msgpack', payload: itemCodec.pack(value) };
}

/** An append of `values` made on `base`, at version (term, seq); the list keeps its last `keep` (0: all). */
export function appendRecord(seq: number, base: Version, values: unknown[], keep = 0, term = 1): ItemRecord {
  return {
    bucketKey: 'b',
    itemKey: 'list',
    version: v(seq, term),
    tombstone: false,
    encoding: 'msgpack',
    payload: encodeListAppend({ base, keep, values: itemCodec.pack(values) }),
    delta: true,
  };
}
