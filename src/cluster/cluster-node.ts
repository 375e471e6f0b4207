/**
 * A node's view of its cluster and its bleets: who the members are and
 * whether they are alive, the farm map, which node is each flock's active
 * node, and the connections that carry requests between them.
 *
 * The decisions are made by pure parts (membership.ts, farm-map.ts,
 * quorum.ts); this class does the IO around them: it listens and dials
 * (peer-dialer.ts), sends heartbeats every `heartbeatMs`, pulls a peer's
 * member table when its fingerprint differs, and serves the bleets of
 * others through the handlers the node gives it.
 *
 * A node started with seeds (`peers`) is not "joined" until it has merged a
 * member table from one of them: before that it would think it is alone and
 * lead every flock, so it refuses to route (GREX_ERR_NOT_READY).
 */
import { GrexError } from '../errors.js';
import type { Logger } from '../log.js';
import { BleetLink, DEFAULT_LINK_LIMITS, type LinkHandlers, type LinkLimits } from './bleet-link.js';
import type { BleetMethod, BleetRequest, BleetResponse } from './bleet-messages.js';
import { computeFarmMap, farmSummary, parseFarm, type FarmMap } from './farm-map.js';
import { decodeFlockSet, encodeFlockSet, flockRoles, mayDrop, type FlockRoles } from './herding.js';
import { MemberTable, sameMember, type MemberInfo, type MemberState } from './membership.js';
import { PeerDialer } from './peer-dialer.js';
import type { WriteQuorum } from './quorum.js';
import type { FrameSocket, Transport } from './transport.js';

/** Serves the bleets that reach this node (all but `members`, which the cluster answers). */
export type BleetHandler = <M extends Exclude<BleetMethod, 'members'>>(
  method: M,
  body: BleetRequest<M>,
  from: MemberInfo,
  ttlMs: number,
) => Promise<BleetResponse<M>>;

export interface ClusterOptions {
  /** This node's entry; httpUrl and bleetUrl may be filled in after listening (`setUrls`). */
  self: MemberInfo;
  flocks: number;
  replicas: number;
  writeQuorum: WriteQuorum;
  /** Listens and dials; null for a node that is a cluster of one. */
  transport: Transport | null;
  /** Bleet URLs of seed peers. */
  peers: readonly string[];
  /** Members remembered from an earlier run (dialled like seeds). */
  knownMembers?: readonly MemberInfo[];
  heartbeatMs: number;
  suspectAfterMs: number;
  deadAfterMs: number;
  /** Default deadline of a bleet request. */
  bleetTimeoutMs: number;
  limits?: LinkLimits;
  handler: BleetHandler;
  /** Called when a connection to a member closes (it may miss writes from now on). */
  onPeerDisconnected?: (nodeId: string) => void;
  /** Called when the member table changed (to remember it across restarts). */
  onMembersChanged?: (members: MemberInfo[]) => void;
  logger: Logger;
  now?: () => number;
}

export interface FlockRoute {
  flock: number;
  /** Nodes herding the flock now (they promise, acknowledge, may lead), target herders first. */
  herders: readonly string[];
  /** Target herders still catching up: sent every write, counted for nothing. */
  learners: readonly string[];
  /** Who should herd the flock (the farm map). */
  target: readonly string[];
  /** The first live herder, or null when none is live. */
  active: string | null;
}

export interface ClusterCounters {
  jobsLocal: number;
  jobsForwarded: number;
  jobsReceived: number;
  notActiveRetries: number;
  /** Requests run once more, on the node the view named next, after the first node refused them before storing anything. */
  rerouted: number;
  replicationFailures: number;
  quorumFailures: number;
}

export class ClusterNode {
  readonly selfId: string;
  readonly flocks: number;
  readonly replicas: number;
  readonly writeQuorum: WriteQuorum;
  readonly bleetTimeoutMs: number;
  readonly counters: ClusterCounters = { jobsLocal: 0, jobsForwarded: 0, jobsReceived: 0, notActiveRetries: 0, rerouted: 0, replicationFailures: 0, quorumFailures: 0 };
  readonly #options: ClusterOptions;
  readonly #table: MemberTable;
  readonly #now: () => number;
  readonly #log: Logger;
  #farm: FarmMap;
  #farmVersion = 0;
  /** The last map computed, and the members it was computed from (see #computeFarm). */
  #farmKey = '';
  #farmByMembers: FarmMap | null = null;
  /** Flocks each (not removed) member announces herding. */
  #herdingBy = new Map<string, Set<number>>();
  #roles: FlockRoles[] = [];
  readonly #links = new Map<string, BleetLink>(); // outgoing, ready, by peer node id
  readonly #incoming = new Set<BleetLink>();
  /** Every open connection and its direction (for metrics). */
  readonly #open = new Map<BleetLink, 'in' | 'out'>();
  /** Member table pulls on their way, by peer. */
  readonly #pulling = new Map<string, Promise<void>>();
  #dialer: PeerDialer | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastTick = 0;
  #joined: boolean;
  #stopped = false;
  /** Peers this node refuses to talk to (fault injection in tests: a partition). */
  readonly #blocked = new Set<string>();
  /** Woken at the next change of the member table (see viewChange). */
  #viewWaiters: (() => void)[] = [];

  constructor(options: ClusterOptions) {
    this.#options = options;
    this.selfId = options.self.nodeId;
    this.flocks = options.flocks;
    this.replicas = options.replicas;
    this.writeQuorum = options.writeQuorum;
    this.bleetTimeoutMs = options.bleetTimeoutMs;
    this.#now = options.now ?? Date.now;
    this.#log = options.logger;
    this.#table = new MemberTable(options.self, { suspectAfterMs: options.suspectAfterMs, deadAfterMs: options.deadAfterMs }, this.#now());
    if (options.knownMembers !== undefined) this.#table.merge(options.knownMembers, 0, this.#now());
    this.#joined = options.peers.length === 0 && this.#table.size === 1;
    this.#farm = this.#computeFarm();
  }

  /** Starts listening and dialling; resolves with this node's bleet URL ('' without a transport). */
  async start(): Promise<string> {
    const transport = this.#options.transport;
    let bleetUrl = '';
    if (transport !== null) {
      bleetUrl = await transport.listen((socket) => this.#accept(socket));
      this.#dialer = new PeerDialer(transport, (socket, url) => this.#makeLink(socket, url, true));
      this.#updateSelf({ ...this.self(), bleetUrl });
      for (const url of this.#options.peers) this.#dialer.want(url);
      this.#wantMembers();
    }
    this.#lastTick = this.#now();
    this.#timer = setInterval(() => this.#tick(), this.#options.heartbeatMs);
    this.#timer.unref();
    return bleetUrl;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#dialer?.stop();
    for (const link of [...this.#links.values(), ...this.#incoming]) link.close('node stopping');
    await this.#options.transport?.close();
  }

  self(): MemberInfo {
    return this.#table.get(this.selfId)!;
  }

  /** Records this node's URLs once it listens. */
  setHttpUrl(httpUrl: string): void {
    this.#updateSelf({ ...this.self(), httpUrl });
  }

  #updateSelf(self: MemberInfo): void {
    this.#table.updateSelf(self);
    this.#membersChanged();
  }

  get joined(): boolean {
    return this.#joined;
  }

  get mapVersion(): number {
    return this.#farmVersion;
  }

  get farm(): FarmMap {
    return this.#farm;
  }

  members(): MemberInfo[] {
    return this.#table.list();
  }

  member(nodeId: string): MemberInfo | undefined {
    return this.#table.get(nodeId);
  }

  stateOf(nodeId: string): MemberState {
    return this.#table.stateOf(nodeId, this.#now());
  }

  isLive(nodeId: string): boolean {
    return this.#table.isLive(nodeId, this.#now());
  }

  /** The herders, learners and the active node of a flock, in this node's view. */
  route(flock: number): FlockRoute {
    const target = this.#farm.herders[flock] ?? [];
    const roles = this.#roles[flock] ?? { herders: [], learners: [], fresh: true };
    const now = this.#now();
    const active = roles.herders.find((nodeId) => this.#table.isLive(nodeId, now) && this.#table.get(nodeId)?.stopping !== true) ?? null;
    return { flock, herders: roles.herders, learners: roles.learners, target, active };
  }

  /** Flocks nobody herds yet (never claimed): their target herders start herding when they claim. */
  isFresh(flock: number): boolean {
    return this.#roles[flock]?.fresh ?? true;
  }

  /** Members that announce herding a flock. */
  announcedHerders(flock: number): string[] {
    return [...this.#herdingBy].filter(([, flocks]) => flocks.has(flock)).map(([id]) => id);
  }

  /** The flocks this node announces herding. */
  herding(): Set<number> {
    return new Set(this.#herdingBy.get(this.selfId) ?? []);
  }

  /** Announces the flocks this node herds (after they are durably recorded) and the flocks it is learning. */
  setHerding(herding: Iterable<number>, learning: Iterable<number> = []): void {
    const h = [...herding];
    const l = [...learning];
    const { herding: _h, learning: _l, ...rest } = this.self();
    this.#updateSelf({
      ...rest,
      ...(h.length === 0 ? {} : { herding: encodeFlockSet(h, this.flocks) }),
      ...(l.length === 0 ? {} : { learning: encodeFlockSet(l, this.flocks) }),
    });
  }

  /** Flocks this node should herd but does not yet, and which somebody herds (so it must copy them). */
  toLearn(herding: ReadonlySet<number>): number[] {
    const out: number[] = [];
    // Before joining, this node cannot tell what it must copy: it says every flock it does
    // not herd, so that nobody routes to it a flock it does not hold.
    if (!this.#joined) {
      for (let flock = 0; flock < this.flocks; flock++) if (!herding.has(flock)) out.push(flock);
      return out;
    }
    this.#farm.herders.forEach((target, flock) => {
      if (target.includes(this.selfId) && !herding.has(flock) && !(this.#roles[flock]?.fresh ?? true)) out.push(flock);
    });
    return out;
  }

  /** Whether this node may drop a flock it herds (no longer a target herder, and every target herder herds it). */
  mayDrop(flock: number): boolean {
    return mayDrop(flock, this.selfId, this.#farm.herders[flock] ?? [], this.#herdingBy);
  }

  /** Changes what this node declares: `herd` false drains it; `farm` is its manual farm (null: auto). */
  declare(change: { herd?: boolean; farm?: string | null }): void {
    const { farm: _farm, ...rest } = this.self();
    const farm = change.farm === undefined ? this.self().farm : change.farm ?? undefined;
    this.#updateSelf({ ...rest, herd: change.herd ?? rest.herd, ...(farm === undefined ? {} : { farm }) });
  }

  /**
   * Waits (up to `timeoutMs`) until every live, connected member holds this
   * node's current entry, so what it announced last is known before it goes.
   */
  async flushMembers(timeoutMs: number): Promise<void> {
    const deadline = this.#now() + timeoutMs;
    while (this.#now() < deadline) {
      const peers = [...this.#links.values()].filter((link) => link.ready && link.peer !== null && this.isLive(link.peer.nodeId));
      const answers = await Promise.all(
        peers.map((link) => link.request('members', {}, Math.max(1, deadline - this.#now())).catch(() => null)),
      );
      const behind = answers.filter((a) => {
        const seen = a?.members.find((m) => m.nodeId === this.selfId);
        return seen === undefined || !sameMember(seen, this.self());
      });
      if (behind.length === 0) return;
      const digest = this.#table.digest();
      for (const link of peers) link.ping(digest, this.#table.version);
      // Not unref'd: a node shutting down waits here on purpose (bounded by timeoutMs).
      await new Promise((resolve) => setTimeout(resolve, this.#options.heartbeatMs));
    }
  }

  /** Announces that this node is shutting down: nobody makes it an active node from now on. */
  setStopping(): void {
    this.#updateSelf({ ...this.self(), stopping: true });
  }

  /** Removes a dead member for good; its flocks are copied to other nodes. */
  removeMember(nodeId: string): void {
    const member = this.#table.get(nodeId);
    if (member === undefined || member.removed === true) {
      throw new GrexError('GREX_ERR_UNKNOWN_MEMBER', `no member ${nodeId} in this cluster`, { nodeId });
    }
    if (nodeId === this.selfId || this.stateOf(nodeId) !== 'dead') {
      throw new GrexError('GREX_ERR_MEMBER_ALIVE', `member ${nodeId} is ${nodeId === this.selfId ? 'this node' : this.stateOf(nodeId)}; only a dead member can be removed (a live one leaves)`, { nodeId });
    }
    if (this.#table.remove(nodeId)) {
      this.#log.warn({ nodeId }, 'member removed for good');
      this.#membersChanged();
    }
  }

  /** A ready outgoing connection to a member, if there is one. */
  linkTo(nodeId: string): BleetLink | undefined {
    const link = this.#links.get(nodeId);
    return link?.ready === true ? link : undefined;
  }

  /** Sends a request to a member over this node's connection to it. */
  request<M extends BleetMethod>(nodeId: string, method: M, body: BleetRequest<M>, timeoutMs = this.bleetTimeoutMs): Promise<BleetResponse<M>> {
    const link = this.linkTo(nodeId);
    if (link === undefined) return Promise.reject(new GrexError('GREX_ERR_PEER_UNAVAILABLE', `no connection to node ${nodeId}`, { nodeId }));
    return link.request(method, body, timeoutMs);
  }

  /**
   * Cuts this node off from these peers (fault injection for tests): their
   * connections close and new ones are refused until unblocked. Block both
   * sides for a symmetric partition.
   */
  setBlocked(nodeIds: readonly string[]): void {
    this.#blocked.clear();
    for (const id of nodeIds) this.#blocked.add(id);
    for (const link of [...this.#links.values(), ...this.#incoming]) {
      if (link.peer !== null && this.#blocked.has(link.peer.nodeId)) link.close('blocked (fault injection)');
    }
  }

  get blocked(): string[] {
    return [...this.#blocked];
  }

  /** What GET /cluster shows. */
  snapshot(): Record<string, unknown> {
    const { byNode, unassigned } = farmSummary(this.#farm);
    const led = new Map<string, number>();
    for (let flock = 0; flock < this.flocks; flock++) {
      const active = this.route(flock).active;
      if (active !== null) led.set(active, (led.get(active) ?? 0) + 1);
    }
    // Per flock: never claimed, herded by exactly its target herders, or moving (copies on their way or to drop).
    let fresh = 0;
    let settled = 0;
    this.#farm.herders.forEach((target, flock) => {
      const holders = this.announcedHerders(flock);
      if (holders.length === 0) fresh++;
      else if (holders.length === target.length && target.every((id) => holders.includes(id))) settled++;
    });
    return {
      nodeId: this.selfId,
      joined: this.#joined,
      flockStates: { fresh, settled, moving: this.flocks - fresh - settled },
      mapVersion: this.#farmVersion,
      mode: this.#farm.mode,
      flocks: this.flocks,
      replicas: this.replicas,
      writeQuorum: this.writeQuorum,
      unassignedFlocks: unassigned.length,
      members: this.#table.list().map((m) => ({
        nodeId: m.nodeId,
        httpUrl: m.httpUrl,
        bleetUrl: m.bleetUrl,
        herd: m.herd,
        ...(m.farm === undefined ? {} : { farm: m.farm }),
        ...(m.removed === true ? { removed: true } : {}),
        state: m.removed === true ? 'removed' : this.stateOf(m.nodeId),
        herding: this.#herdingBy.get(m.nodeId)?.size ?? 0,
        learning: decodeFlockSet(m.learning, this.flocks).size,
        connected: m.nodeId === this.selfId || this.linkTo(m.nodeId) !== undefined,
        flocksHerded: byNode.get(m.nodeId)?.length ?? 0,
        flocksLed: led.get(m.nodeId) ?? 0,
      })),
      counters: { ...this.counters },
    };
  }

  // ---- membership and the farm map ----

  #computeFarm(): FarmMap {
    const live = this.#table.list().filter((m) => m.removed !== true);
    this.#farmVersion = this.#table.version;
    // Most changes of the table are what members herd, not who they are or declare: the map stays.
    const key = JSON.stringify(live.map((m) => [m.nodeId, m.herd, m.farm ?? null]));
    if (this.#farmKey !== key || this.#farmByMembers === null) {
      const members = live.map((m) => {
        let farm: number[] | undefined;
        if (m.farm === '') {
          farm = []; // a manual plan that gives this node nothing
        } else if (m.farm !== undefined) {
          try {
            farm = parseFarm(m.farm, this.flocks);
          } catch (err) {
            this.#log.warn({ nodeId: m.nodeId, farm: m.farm, err: (err as Error).message }, 'member has an invalid farm; it herds nothing');
            farm = [];
          }
        }
        return { nodeId: m.nodeId, herd: m.herd, farm };
      });
      this.#farmKey = key;
      this.#farmByMembers = computeFarmMap(members, { flocks: this.flocks, replicas: this.replicas });
    }
    const farm = this.#farmByMembers;
    this.#herdingBy = new Map(live.map((m) => [m.nodeId, decodeFlockSet(m.herding, this.flocks)]));
    const learningBy = new Map(live.map((m) => [m.nodeId, decodeFlockSet(m.learning, this.flocks)]));
    this.#roles = farm.herders.map((target, flock) => flockRoles(flock, target, this.#herdingBy, learningBy));
    return farm;
  }

  #membersChanged(): void {
    this.#farm = this.#computeFarm();
    this.#wantMembers();
    this.#options.onMembersChanged?.(this.#table.list());
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
  #wantMembers(): void {
    if (this.#dialer === null) return;
    const wanted = new Set<string>();
    for (const member of this.#table.list()) {
      if (member.nodeId !== this.selfId && member.bleetUrl !== '' && member.removed !== true) wanted.add(member.bleetUrl);
    }
    for (const url of wanted) this.#dialer.want(url);
    for (const url of this.#dialer.urls) {
      const isSeed = this.#options.peers.includes(url);
      if (!wanted.has(url) && !(isSeed && !this.#joined)) this.#dialer.unwant(url);
    }
  }

  #merge(members: readonly MemberInfo[], version: number, from: string): void {
    const changed = this.#table.merge(members, version, this.#now());
    if (changed) {
      this.#log.info({ from, version: this.#table.version, members: this.#table.size }, 'member table changed');
      this.#membersChanged();
    } else if (this.#farmVersion !== this.#table.version) {
      this.#farmVersion = this.#table.version;
    }
  }

  /** Pulls a peer's member table and merges it (one pull per peer at a time: a second caller waits for it). */
  #pullMembers(link: BleetLink): Promise<void> {
    const peer = link.peer!.nodeId;
    let pull = this.#pulling.get(peer);
    if (pull === undefined) {
      pull = this.#pull(link, peer).finally(() => this.#pulling.delete(peer));
      this.#pulling.set(peer, pull);
    }
    return pull;
  }

  async #pull(link: BleetLink, peer: string): Promise<void> {
    try {
      const answer = await link.request('members', {}, this.bleetTimeoutMs);
      this.#merge(answer.members, answer.version, peer);
      if (!this.#joined) {
        this.#joined = true;
        this.#log.info({ via: peer, members: this.#table.size }, 'joined the cluster');
        this.#wantMembers();
      }
    } catch (err) {
      this.#log.debug({ peer, err: (err as Error).message }, 'member table pull failed');
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
    const link = this.linkTo(nodeId);
    if (link === undefined) return;
    await this.#pulling.get(nodeId);
    await this.#pullMembers(link);
  }

  // ---- connections ----

  #accept(socket: FrameSocket): void {
    const link = this.#makeLink(socket, socket.remote, false);
    this.#incoming.add(link);
  }

  #makeLink(socket: FrameSocket, url: string, outgoing: boolean): BleetLink {
    const handlers: LinkHandlers = {
      onHello: (link, peer) => {
        if (peer.nodeId === this.selfId) {
          if (outgoing) this.#dialer?.unwant(url);
          throw new GrexError('GREX_ERR_CLUSTER_MISMATCH', `${url} is this node itself`);
        }
        if (this.#blocked.has(peer.nodeId)) throw new GrexError('GREX_ERR_PEER_UNAVAILABLE', `${peer.nodeId} is blocked (fault injection)`);
        this.#table.heard(peer.nodeId, this.#now());
        this.#merge([peer], 0, peer.nodeId);
        this.#table.heard(peer.nodeId, this.#now());
        if (outgoing) {
          this.#links.get(peer.nodeId)?.close('replaced by a newer connection');
          this.#links.set(peer.nodeId, link);
          // A seed that turned out to be a member under another URL needs no loop of its own.
          if (url !== peer.bleetUrl && this.#joined) this.#dialer?.unwant(url);
          queueMicrotask(() => void this.#pullMembers(link));
        }
      },
      onPing: (link, digest, version) => {
        const peer = link.peer!;
        this.#table.heard(peer.nodeId, this.#now());
        if (digest !== this.#table.digest()) {
          const back = this.linkTo(peer.nodeId);
          if (back !== undefined) void this.#pullMembers(back);
        } else if (version > this.#table.version) {
          this.#merge([], version, peer.nodeId);
        }
      },
      onRequest: async (link, method, body, ttlMs) => {
        const peer = link.peer!;
        this.#table.heard(peer.nodeId, this.#now());
        if (method === 'members') return { version: this.#table.version, members: this.#table.list() } as never;
        return this.#options.handler(method as Exclude<BleetMethod, 'members'>, body as never, peer, ttlMs) as never;
      },
      onClose: (link, reason) => {
        this.#incoming.delete(link);
        this.#open.delete(link);
        const peer = link.peer?.nodeId;
        if (peer !== undefined && this.#links.get(peer) === link) {
          // The connection this node sends on is gone: the peer may miss what it sends from now on.
          this.#links.delete(peer);
          this.#options.onPeerDisconnected?.(peer);
        }
        if (!this.#stopped && peer !== undefined) this.#log.debug({ peer, reason }, 'bleet connection closed');
      },
      onProblem: (link, error) => {
        this.#log.warn({ peer: link.peer?.nodeId ?? link.socket.remote, code: error.code }, error.message);
      },
    };
    const link = new BleetLink(socket, { self: this.self(), flocks: this.flocks, handlers, limits: this.#options.limits ?? DEFAULT_LINK_LIMITS });
    if (!link.closed) this.#open.set(link, outgoing ? 'out' : 'in');
    return link;
  }

  /** Open bleet connections, by direction and state (greeting: no hello from the peer yet). */
  connectionCounts(): { direction: 'in' | 'out'; state: 'greeting' | 'ready'; count: number }[] {
    const counts = new Map<string, number>();
    for (const [link, direction] of this.#open) {
      const key = `${direction} ${link.ready ? 'ready' : 'greeting'}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return (['in', 'out'] as const).flatMap((direction) =>
      (['greeting', 'ready'] as const).map((state) => ({ direction, state, count: counts.get(`${direction} ${state}`) ?? 0 })),
    );
  }

  // ---- heartbeats ----

  #tick(): void {
    const now = this.#now();
    const stalled = now - this.#lastTick - this.#options.heartbeatMs;
    this.#lastTick = now;
    // This node's own event loop stood still: the silence of the others was not theirs.
    if (stalled > this.#options.heartbeatMs) this.#table.forgiveStall(stalled, now);
    const digest = this.#table.digest();
    const version = this.#table.version;
    for (const link of this.#links.values()) link.ping(digest, version);
  }
}
