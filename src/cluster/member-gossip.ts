/**
 * How a node's member table changes and spreads: merging what peers send,
 * pulling a peer's table when its fingerprint differs (and catching up with
 * one on demand), dialling every member, heartbeats, waking those waiting
 * for a change of the view, and making sure the others hold this node's
 * entry before it goes. Each change computes the farm view again
 * (farm-view.ts). The bleet links (bleet-links.ts) call merge and
 * pullMembers when peers greet and ping.
 */
import type { BleetLink } from './bleet-link.js';
import type { ClusterState } from './cluster-state.js';
import type { FarmView } from './farm-view.js';
import { sameMember, type MemberInfo } from './membership.js';

export class MemberGossip {
  readonly #s: ClusterState;
  readonly #farm: FarmView;
  /** Member table pulls on their way, by peer. */
  readonly #pulling = new Map<string, Promise<void>>();
  /** Woken at the next change of the member table (see viewChange). */
  #viewWaiters: (() => void)[] = [];
  #timer: NodeJS.Timeout | null = null;
  #lastTick = 0;

  constructor(state: ClusterState, farm: FarmView) {
    this.#s = state;
    this.#farm = farm;
  }

  /** Records a new entry of this node's own. */
  updateSelf(self: MemberInfo): void {
    this.#s.table.updateSelf(self);
    this.membersChanged();
  }

  membersChanged(): void {
    this.#farm.recompute();
    this.wantMembers();
    this.#s.o.onMembersChanged?.(this.#s.table.list());
    for (const wake of this.#viewWaiters.splice(0)) wake();
  }

  /**
   * Resolves at the next change of the member table (a member's entry: what it
   * herds, whether it leaves...), or after `timeoutMs`, whichever comes first.
   * Liveness changes with time, not with an event: callers look again after it.
   * (The timer is not unref'd: a request waits here, bounded by `timeoutMs`.)
   */
  viewChange(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#viewWaiters = this.#viewWaiters.filter((w) => w !== wake);
        resolve();
      }, Math.max(0, timeoutMs));
      this.#viewWaiters.push(wake);
    });
  }

  /** Dial every member (and keep dialling seeds until joined). */
  wantMembers(): void {
    const s = this.#s;
    if (s.dialer === null) return;
    const wanted = new Set<string>();
    for (const member of s.table.list()) {
      if (member.nodeId !== s.selfId && member.bleetUrl !== '' && member.removed !== true) wanted.add(member.bleetUrl);
    }
    for (const url of wanted) s.dialer.want(url);
    for (const url of s.dialer.urls) {
      const isSeed = s.o.peers.includes(url);
      if (!wanted.has(url) && !(isSeed && !s.joined)) s.dialer.unwant(url);
    }
  }

  merge(members: readonly MemberInfo[], version: number, from: string): void {
    const { table } = this.#s;
    const changed = table.merge(members, version, this.#s.now());
    if (changed) {
      this.#s.log.info({ from, version: table.version, members: table.size }, 'member table changed');
      this.membersChanged();
    } else if (this.#farm.version !== table.version) {
      this.#farm.version = table.version;
    }
  }

  /** Pulls a peer's member table and merges it (one pull per peer at a time: a second caller waits for it). */
  pullMembers(link: BleetLink): Promise<void> {
    const peer = link.peer!.nodeId;
    let pull = this.#pulling.get(peer);
    if (pull === undefined) {
      pull = this.#pull(link, peer).finally(() => this.#pulling.delete(peer));
      this.#pulling.set(peer, pull);
    }
    return pull;
  }

  async #pull(link: BleetLink, peer: string): Promise<void> {
    const s = this.#s;
    try {
      const answer = await link.request('members', {}, s.o.bleetTimeoutMs);
      this.merge(answer.members, answer.version, peer);
      if (!s.joined) {
        s.joined = true;
        s.log.info({ via: peer, members: s.table.size }, 'joined the cluster');
        this.wantMembers();
      }
    } catch (err) {
      s.log.debug({ peer, err: (err as Error).message }, 'member table pull failed');
    }
  }

  /**
   * Merges a member's table now, not at its next heartbeat: two nodes that
   * disagree about a flock's active node (one has heard of a change the
   * other has not) agree once one holds the other's view. Used before a
   * request is refused or rerouted for such a disagreement. A pull already
   * on its way may predate what the member knows now, so a fresh one follows it.
   */
  async catchUpWith(nodeId: string): Promise<void> {
    const link = this.#s.linkTo(nodeId);
    if (link === undefined) return;
    await this.#pulling.get(nodeId);
    await this.pullMembers(link);
  }

  /**
   * Waits (up to `timeoutMs`) until every live, connected member holds this
   * node's current entry, so what it announced last is known before it goes.
   */
  async flushMembers(timeoutMs: number): Promise<void> {
    const s = this.#s;
    const deadline = s.now() + timeoutMs;
    while (s.now() < deadline) {
      const peers = [...s.links.values()].filter((link) => link.ready && link.peer !== null && s.isLive(link.peer.nodeId));
      const answers = await Promise.all(
        peers.map((link) => link.request('members', {}, Math.max(1, deadline - s.now())).catch(() => null)),
      );
      const behind = answers.filter((a) => {
        const seen = a?.members.find((m) => m.nodeId === s.selfId);
        return seen === undefined || !sameMember(seen, s.self());
      });
      if (behind.length === 0) return;
      const digest = s.table.digest();
      for (const link of peers) link.ping(digest, s.table.version);
      // Not unref'd: a node shutting down waits here on purpose (bounded by timeoutMs).
      await new Promise((resolve) => setTimeout(resolve, s.o.heartbeatMs));
    }
  }

  // ---- heartbeats ----

  /** Sends heartbeats every `heartbeatMs` from now on. */
  startHeartbeats(): void {
    this.#lastTick = this.#s.now();
    this.#timer = setInterval(() => this.#tick(), this.#s.o.heartbeatMs);
    this.#timer.unref();
  }

  stopHeartbeats(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
  }

  #tick(): void {
    const s = this.#s;
    const now = s.now();
    const stalled = now - this.#lastTick - s.o.heartbeatMs;
    this.#lastTick = now;
    // This node's own event loop stood still: the silence of the others was not theirs.
    if (stalled > s.o.heartbeatMs) s.table.forgiveStall(stalled, now);
    const digest = s.table.digest();
    const version = s.table.version;
    for (const link of s.links.values()) link.ping(digest, version);
  }
}
