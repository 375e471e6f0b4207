/**
 * The member table and the failure detector. Pure: messages and `now` in,
 * decisions out; no sockets, no timers.
 *
 * Members: every node that ever joined (a removed one stays as a tombstone). The
 * table spreads by gossip: heartbeats carry its digest and version, and a
 * node whose digest differs pulls the table and merges it. For one node id
 * the entry with the higher incarnation (its start time) wins, so a node that
 * restarts on new ports replaces its old entry. The version is a logical
 * clock: a merge that changes the table bumps it past both sides, a merge
 * that does not adopts the higher one, so once gossip settles every node has
 * the same table at the same version. The farm map is computed from the
 * table, so its version is the table's.
 *
 * Liveness is each node's own view, from when it last heard from a member:
 *   alive --(silent > suspectAfterMs)--> suspect --(silent > deadAfterMs)--> dead
 *   any   --(heard)--> alive
 * Suspect members still count as live, so one slow heartbeat moves nothing.
 * After a pause of this node's own event loop, nobody is accused for it.
 */
import { createHash } from 'node:crypto';

export interface MemberInfo {
  nodeId: string;
  httpUrl: string;
  bleetUrl: string;
  /** False for a node that routes and submits but herds no flock. */
  herd: boolean;
  /** The flocks it herds in a manual farm ("0-511,700"); absent in auto mode. */
  farm?: string;
  /** The flocks it herds now (herding.ts encodeFlockSet); absent: none. */
  herding?: string;
  /** The flocks it is copying (a learner: not herding them yet); absent: none. */
  learning?: string;
  /** Removed for good by an operator (a tombstone entry, written by another node). */
  removed?: boolean;
  /** Shutting down: it hands its flocks over and must not be made their active node again. */
  stopping?: boolean;
  /** When this run of the node started (ms); a newer incarnation replaces an older entry. */
  incarnation: number;
}

export type MemberState = 'alive' | 'suspect' | 'dead';

export interface FailureDetectorOptions {
  suspectAfterMs: number;
  deadAfterMs: number;
}

export function sameMember(a: MemberInfo, b: MemberInfo): boolean {
  return (
    a.nodeId === b.nodeId &&
    a.httpUrl === b.httpUrl &&
    a.bleetUrl === b.bleetUrl &&
    a.herd === b.herd &&
    a.farm === b.farm &&
    a.herding === b.herding &&
    a.learning === b.learning &&
    a.removed === b.removed &&
    a.stopping === b.stopping &&
    a.incarnation === b.incarnation
  );
}

export class MemberTable {
  readonly selfId: string;
  readonly #members = new Map<string, MemberInfo>();
  readonly #lastHeard = new Map<string, number>();
  readonly #detector: FailureDetectorOptions;
  #version = 1;
  #digest: string | null = null;

  constructor(self: MemberInfo, detector: FailureDetectorOptions, now: number) {
    this.selfId = self.nodeId;
    this.#detector = detector;
    this.#members.set(self.nodeId, self);
    this.#lastHeard.set(self.nodeId, now);
  }

  get version(): number {
    return this.#version;
  }

  get size(): number {
    return this.#members.size;
  }

  get(nodeId: string): MemberInfo | undefined {
    return this.#members.get(nodeId);
  }

  /** All members, sorted by node id. */
  list(): MemberInfo[] {
    return [...this.#members.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  /** A short fingerprint of the table: equal digests, equal tables. */
  digest(): string {
    if (this.#digest === null) {
      // Fields in a fixed order: entries built here and entries read from the wire order their keys differently.
      const fields = this.list().map((m) => [m.nodeId, m.httpUrl, m.bleetUrl, m.herd, m.farm ?? null, m.herding ?? null, m.learning ?? null, m.removed === true, m.stopping === true, m.incarnation]);
      this.#digest = createHash('sha256').update(JSON.stringify(fields)).digest('hex').slice(0, 16);
    }
    return this.#digest;
  }

  /** Merges a table heard from a peer; returns true if this table changed. */
  merge(remote: readonly MemberInfo[], remoteVersion: number, now: number): boolean {
    let changed = false;
    for (const member of remote) {
      const current = this.#members.get(member.nodeId);
      if (member.nodeId === this.selfId) continue; // only this node speaks for itself
      if (current !== undefined && (current.incarnation > member.incarnation || sameMember(current, member))) continue;
      this.#members.set(member.nodeId, { ...member });
      // A member just learned of gets a full grace period before it can be suspected.
      if (current === undefined || current.incarnation < member.incarnation) this.#lastHeard.set(member.nodeId, now);
      changed = true;
    }
    if (changed) {
      this.#digest = null;
      this.#version = Math.max(this.#version, remoteVersion) + 1;
    } else {
      this.#version = Math.max(this.#version, remoteVersion);
    }
    return changed;
  }

  /** Replaces this node's own entry (its URLs are known once it listens); bumps the version. */
  updateSelf(self: MemberInfo): void {
    const current = this.#members.get(this.selfId)!;
    if (sameMember(current, { ...self, incarnation: current.incarnation })) return;
    // A new incarnation, so that peers holding the old entry take this one.
    this.#members.set(this.selfId, { ...self, incarnation: Math.max(self.incarnation, current.incarnation + 1) });
    this.#digest = null;
    this.#version++;
  }

  /**
   * Removes a member for good: a tombstone entry one incarnation above the
   * member's, so it wins everywhere by the usual merge. A removed node that
   * starts again comes back as a new incarnation (a new member).
   */
  remove(nodeId: string): boolean {
    const current = this.#members.get(nodeId);
    if (current === undefined || nodeId === this.selfId || current.removed === true) return false;
    const { herding: _herding, learning: _learning, farm: _farm, ...rest } = current;
    this.#members.set(nodeId, { ...rest, herd: false, removed: true, incarnation: current.incarnation + 1 });
    this.#digest = null;
    this.#version++;
    return true;
  }

  /** Something arrived from this member. */
  heard(nodeId: string, now: number): void {
    if (this.#members.has(nodeId)) this.#lastHeard.set(nodeId, now);
  }

  stateOf(nodeId: string, now: number): MemberState {
    if (nodeId === this.selfId) return 'alive';
    if (this.#members.get(nodeId)?.removed === true) return 'dead';
    const last = this.#lastHeard.get(nodeId);
    if (last === undefined) return 'dead';
    const silent = now - last;
    if (silent > this.#detector.deadAfterMs) return 'dead';
    if (silent > this.#detector.suspectAfterMs) return 'suspect';
    return 'alive';
  }

  /** Alive or suspect: still trusted to lead and to take writes. */
  isLive(nodeId: string, now: number): boolean {
    return this.stateOf(nodeId, now) !== 'dead';
  }

  /**
   * This node's event loop was stalled for `stalledMs`: the silence it saw was
   * its own, so everyone's silence is shortened by that much.
   */
  forgiveStall(stalledMs: number, now: number): void {
    for (const [nodeId, last] of this.#lastHeard) this.#lastHeard.set(nodeId, Math.min(now, last + stalledMs));
  }
}
