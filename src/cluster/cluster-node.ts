/**
 * A node's view of its cluster and its bleets: who the members are and
 * whether they are alive, the farm map, which node is each flock's active
 * node, and the connections that carry requests between them.
 *
 * The decisions are made by pure parts (membership.ts, farm-map.ts,
 * herding.ts, flock-routes.ts, quorum.ts); this class does the IO around
 * them: it listens and dials (peer-dialer.ts), sends heartbeats every
 * `heartbeatMs`, pulls a peer's member table when its fingerprint differs,
 * and serves the bleets of others through the handlers the node gives it.
 *
 * A node started with seeds (`peers`) is not "joined" until it has merged a
 * member table from one of them: before that it would think it is alone and
 * lead every flock, so it refuses to route (GREX_ERR_NOT_READY).
 *
 * This file is the facade: it owns the parts below, each handed the shared
 * ClusterState (cluster-state.ts: options, member table, joined, dialer,
 * outgoing links), and announces this node's own entry.
 * - farm-view.ts: the farm map and flock routes for the current table.
 * - member-gossip.ts: merges, pulls, catch-up, heartbeats, view changes.
 * - bleet-links.ts: accepting and making links, requests, blocked peers.
 */
import { GrexError } from '../errors.js';
import type { BleetLink } from './bleet-link.js';
import { BleetLinks } from './bleet-links.js';
import type { BleetMethod, BleetRequest, BleetResponse } from './bleet-messages.js';
import { ClusterState, type ClusterCounters, type ClusterOptions } from './cluster-state.js';
import { farmSummary, type FarmMap } from './farm-map.js';
import { FarmView } from './farm-view.js';
import { flockStates, type FlockRoute } from './flock-routes.js';
import { decodeFlockSet, encodeFlockSet } from './herding.js';
import { MemberGossip } from './member-gossip.js';
import type { MemberInfo, MemberState } from './membership.js';
import { PeerDialer } from './peer-dialer.js';
import type { WriteQuorum } from './quorum.js';

export type { BleetHandler, ClusterCounters, ClusterOptions } from './cluster-state.js';
export type { FlockRoute } from './flock-routes.js';

export class ClusterNode {
  readonly selfId: string;
  readonly flocks: number;
  readonly replicas: number;
  readonly writeQuorum: WriteQuorum;
  readonly bleetTimeoutMs: number;
  readonly counters: ClusterCounters = { jobsLocal: 0, jobsForwarded: 0, jobsReceived: 0, notActiveRetries: 0, rerouted: 0, replicationFailures: 0, quorumFailures: 0 };
  readonly #s: ClusterState;
  readonly #farm: FarmView;
  readonly #gossip: MemberGossip;
  readonly #links: BleetLinks;

  constructor(options: ClusterOptions) {
    this.selfId = options.self.nodeId;
    this.flocks = options.flocks;
    this.replicas = options.replicas;
    this.writeQuorum = options.writeQuorum;
    this.bleetTimeoutMs = options.bleetTimeoutMs;
    this.#s = new ClusterState(options);
    this.#farm = new FarmView(this.#s, options.replicas);
    this.#gossip = new MemberGossip(this.#s, this.#farm);
    this.#links = new BleetLinks(this.#s, this.#gossip);
  }

  /** Starts listening and dialling; resolves with this node's bleet URL ('' without a transport). */
  async start(): Promise<string> {
    const transport = this.#s.o.transport;
    let bleetUrl = '';
    if (transport !== null) {
      bleetUrl = await transport.listen((socket) => this.#links.accept(socket));
      this.#s.dialer = new PeerDialer(transport, (socket, url) => this.#links.makeLink(socket, url, true));
      this.#gossip.updateSelf({ ...this.self(), bleetUrl });
      for (const url of this.#s.o.peers) this.#s.dialer.want(url);
      this.#gossip.wantMembers();
    }
    this.#gossip.startHeartbeats();
    return bleetUrl;
  }

  async stop(): Promise<void> {
    this.#s.stopped = true;
    this.#gossip.stopHeartbeats();
    this.#s.dialer?.stop();
    this.#links.closeAll('node stopping');
    await this.#s.o.transport?.close();
  }

  self(): MemberInfo {
    return this.#s.self();
  }

  /** Records this node's URLs once it listens. */
  setHttpUrl(httpUrl: string): void {
    this.#gossip.updateSelf({ ...this.self(), httpUrl });
  }

  get joined(): boolean {
    return this.#s.joined;
  }

  get mapVersion(): number {
    return this.#farm.version;
  }

  get farm(): FarmMap {
    return this.#farm.map;
  }

  members(): MemberInfo[] {
    return this.#s.table.list();
  }

  member(nodeId: string): MemberInfo | undefined {
    return this.#s.table.get(nodeId);
  }

  stateOf(nodeId: string): MemberState {
    return this.#s.table.stateOf(nodeId, this.#s.now());
  }

  isLive(nodeId: string): boolean {
    return this.#s.isLive(nodeId);
  }

  /** The herders, learners and the active node of a flock, in this node's view. */
  route(flock: number): FlockRoute {
    return this.#farm.route(flock);
  }

  /** Flocks nobody herds yet (never claimed): their target herders start herding when they claim. */
  isFresh(flock: number): boolean {
    return this.#farm.isFresh(flock);
  }

  /** Members that announce herding a flock. */
  announcedHerders(flock: number): string[] {
    return this.#farm.announcedHerders(flock);
  }

  /** The flocks this node announces herding. */
  herding(): Set<number> {
    return this.#farm.herding();
  }

  /** Announces the flocks this node herds (after they are durably recorded) and the flocks it is learning. */
  setHerding(herding: Iterable<number>, learning: Iterable<number> = []): void {
    const h = [...herding];
    const l = [...learning];
    const { herding: _h, learning: _l, ...rest } = this.self();
    this.#gossip.updateSelf({
      ...rest,
      ...(h.length === 0 ? {} : { herding: encodeFlockSet(h, this.flocks) }),
      ...(l.length === 0 ? {} : { learning: encodeFlockSet(l, this.flocks) }),
    });
  }

  /** Flocks this node should herd but does not yet, and which somebody herds (so it must copy them). */
  toLearn(herding: ReadonlySet<number>): number[] {
    return this.#farm.toLearn(herding);
  }

  /** Whether this node may drop a flock it herds (no longer a target herder, and every target herder herds it). */
  mayDrop(flock: number): boolean {
    return this.#farm.mayDrop(flock);
  }

  /** Changes what this node declares: `herd` false drains it; `farm` is its manual farm (null: auto). */
  declare(change: { herd?: boolean; farm?: string | null }): void {
    const { farm: _farm, ...rest } = this.self();
    const farm = change.farm === undefined ? this.self().farm : change.farm ?? undefined;
    this.#gossip.updateSelf({ ...rest, herd: change.herd ?? rest.herd, ...(farm === undefined ? {} : { farm }) });
  }

  /**
   * Waits (up to `timeoutMs`) until every live, connected member holds this
   * node's current entry, so what it announced last is known before it goes.
   */
  flushMembers(timeoutMs: number): Promise<void> {
    return this.#gossip.flushMembers(timeoutMs);
  }

  /** Announces that this node is shutting down: nobody makes it an active node from now on. */
  setStopping(): void {
    this.#gossip.updateSelf({ ...this.self(), stopping: true });
  }

  /** Removes a dead member for good; its flocks are copied to other nodes. */
  removeMember(nodeId: string): void {
    const member = this.#s.table.get(nodeId);
    if (member === undefined || member.removed === true) {
      throw new GrexError('GREX_ERR_UNKNOWN_MEMBER', `no member ${nodeId} in this cluster`, { nodeId });
    }
    if (nodeId === this.selfId || this.stateOf(nodeId) !== 'dead') {
      throw new GrexError('GREX_ERR_MEMBER_ALIVE', `member ${nodeId} is ${nodeId === this.selfId ? 'this node' : this.stateOf(nodeId)}; only a dead member can be removed (a live one leaves)`, { nodeId });
    }
    if (this.#s.table.remove(nodeId)) {
      this.#s.log.warn({ nodeId }, 'member removed for good');
      this.#gossip.membersChanged();
    }
  }

  /**
   * Resolves at the next change of the member table (a member's entry: what it
   * herds, whether it leaves...), or after `timeoutMs`, whichever comes first.
   * Liveness changes with time, not with an event: callers look again after it.
   */
  viewChange(timeoutMs: number): Promise<void> {
    return this.#gossip.viewChange(timeoutMs);
  }

  /**
   * Merges a member's table now, not at its next heartbeat, so two nodes that
   * disagree about a flock's active node agree (see MemberGossip.catchUpWith).
   */
  catchUpWith(nodeId: string): Promise<void> {
    return this.#gossip.catchUpWith(nodeId);
  }

  /** A ready outgoing connection to a member, if there is one. */
  linkTo(nodeId: string): BleetLink | undefined {
    return this.#s.linkTo(nodeId);
  }

  /** Sends a request to a member over this node's connection to it. */
  request<M extends BleetMethod>(nodeId: string, method: M, body: BleetRequest<M>, timeoutMs = this.bleetTimeoutMs): Promise<BleetResponse<M>> {
    return this.#links.request(nodeId, method, body, timeoutMs);
  }

  /**
   * Cuts this node off from these peers (fault injection for tests): their
   * connections close and new ones are refused until unblocked. Block both
   * sides for a symmetric partition.
   */
  setBlocked(nodeIds: readonly string[]): void {
    this.#links.setBlocked(nodeIds);
  }

  get blocked(): string[] {
    return this.#links.blocked;
  }

  /** Open bleet connections, by direction and state (greeting: no hello from the peer yet). */
  connectionCounts(): { direction: 'in' | 'out'; state: 'greeting' | 'ready'; count: number }[] {
    return this.#links.connectionCounts();
  }

  /** What GET /cluster shows. */
  snapshot(): Record<string, unknown> {
    const farm = this.#farm.map;
    const { byNode, unassigned } = farmSummary(farm);
    const led = new Map<string, number>();
    for (let flock = 0; flock < this.flocks; flock++) {
      const active = this.route(flock).active;
      if (active !== null) led.set(active, (led.get(active) ?? 0) + 1);
    }
    return {
      nodeId: this.selfId,
      joined: this.#s.joined,
      flockStates: flockStates(farm, this.#farm.herdingBy),
      mapVersion: this.#farm.version,
      mode: farm.mode,
      flocks: this.flocks,
      replicas: this.replicas,
      writeQuorum: this.writeQuorum,
      unassignedFlocks: unassigned.length,
      members: this.#s.table.list().map((m) => ({
        nodeId: m.nodeId,
        httpUrl: m.httpUrl,
        bleetUrl: m.bleetUrl,
        herd: m.herd,
        ...(m.farm === undefined ? {} : { farm: m.farm }),
        ...(m.removed === true ? { removed: true } : {}),
        state: m.removed === true ? 'removed' : this.stateOf(m.nodeId),
        herding: this.#farm.herdingBy.get(m.nodeId)?.size ?? 0,
        learning: decodeFlockSet(m.learning, this.flocks).size,
        connected: m.nodeId === this.selfId || this.linkTo(m.nodeId) !== undefined,
        flocksHerded: byNode.get(m.nodeId)?.length ?? 0,
        flocksLed: led.get(m.nodeId) ?? 0,
      })),
      counters: { ...this.counters },
    };
  }
}
