/**
 * A node's bleet connections to its peers: accepting and making links (the
 * dialer, peer-dialer.ts, makes the outgoing ones), what a link does when a
 * peer greets, pings, asks or goes, sending requests, the peers blocked for
 * fault injection, and the connection counts for metrics. Greetings and
 * pings feed the member table through the gossip (member-gossip.ts); every
 * other request goes to the node's handler.
 */
import { GrexError } from '../errors.js';
import { BleetLink, DEFAULT_LINK_LIMITS, type LinkHandlers } from './bleet-link.js';
import type { BleetMethod, BleetRequest, BleetResponse } from './bleet-messages.js';
import type { ClusterState } from './cluster-state.js';
import type { MemberGossip } from './member-gossip.js';
import type { FrameSocket } from './transport.js';

export class BleetLinks {
  readonly #s: ClusterState;
  readonly #gossip: MemberGossip;
  readonly #incoming = new Set<BleetLink>();
  /** Every open connection and its direction (for metrics). */
  readonly #open = new Map<BleetLink, 'in' | 'out'>();
  /** Peers this node refuses to talk to (fault injection in tests: a partition). */
  readonly #blocked = new Set<string>();

  constructor(state: ClusterState, gossip: MemberGossip) {
    this.#s = state;
    this.#gossip = gossip;
  }

  /** Sends a request to a member over this node's connection to it. */
  request<M extends BleetMethod>(nodeId: string, method: M, body: BleetRequest<M>, timeoutMs: number): Promise<BleetResponse<M>> {
    const link = this.#s.linkTo(nodeId);
    if (link === undefined) return Promise.reject(new GrexError('GREX_ERR_PEER_UNAVAILABLE', `no connection to node ${nodeId}`, { nodeId }));
    return link.request(method, body, timeoutMs);
  }

  /** Closes every link, outgoing then incoming. */
  closeAll(reason: string): void {
    for (const link of [...this.#s.links.values(), ...this.#incoming]) link.close(reason);
  }

  /**
   * Cuts this node off from these peers (fault injection for tests): their
   * connections close and new ones are refused until unblocked. Block both
   * sides for a symmetric partition.
   */
  setBlocked(nodeIds: readonly string[]): void {
    this.#blocked.clear();
    for (const id of nodeIds) this.#blocked.add(id);
    for (const link of [...this.#s.links.values(), ...this.#incoming]) {
      if (link.peer !== null && this.#blocked.has(link.peer.nodeId)) link.close('blocked (fault injection)');
    }
  }

  get blocked(): string[] {
    return [...this.#blocked];
  }

  accept(socket: FrameSocket): void {
    const link = this.makeLink(socket, socket.remote, false);
    this.#incoming.add(link);
  }

  makeLink(socket: FrameSocket, url: string, outgoing: boolean): BleetLink {
    const s = this.#s;
    const handlers: LinkHandlers = {
      onHello: (link, peer) => {
        if (peer.nodeId === s.selfId) {
          if (outgoing) s.dialer?.unwant(url);
          throw new GrexError('GREX_ERR_CLUSTER_MISMATCH', `${url} is this node itself`);
        }
        if (this.#blocked.has(peer.nodeId)) throw new GrexError('GREX_ERR_PEER_UNAVAILABLE', `${peer.nodeId} is blocked (fault injection)`);
        s.table.heard(peer.nodeId, s.now());
        this.#gossip.merge([peer], 0, peer.nodeId);
        s.table.heard(peer.nodeId, s.now());
        if (outgoing) {
          s.links.get(peer.nodeId)?.close('replaced by a newer connection');
          s.links.set(peer.nodeId, link);
          // A seed that turned out to be a member under another URL needs no loop of its own.
          if (url !== peer.bleetUrl && s.joined) s.dialer?.unwant(url);
          queueMicrotask(() => void this.#gossip.pullMembers(link));
        }
      },
      onPing: (link, digest, version) => {
        const peer = link.peer!;
        s.table.heard(peer.nodeId, s.now());
        if (digest !== s.table.digest()) {
          const back = s.linkTo(peer.nodeId);
          if (back !== undefined) void this.#gossip.pullMembers(back);
        } else if (version > s.table.version) {
          this.#gossip.merge([], version, peer.nodeId);
        }
      },
      onRequest: async (link, method, body, ttlMs) => {
        const peer = link.peer!;
        s.table.heard(peer.nodeId, s.now());
        if (method === 'members') return { version: s.table.version, members: s.table.list() } as never;
        return s.o.handler(method as Exclude<BleetMethod, 'members'>, body as never, peer, ttlMs) as never;
      },
      onClose: (link, reason) => {
        this.#incoming.delete(link);
        this.#open.delete(link);
        const peer = link.peer?.nodeId;
        if (peer !== undefined && s.links.get(peer) === link) {
          // The connection this node sends on is gone: the peer may miss what it sends from now on.
          s.links.delete(peer);
          s.o.onPeerDisconnected?.(peer);
        }
        if (!s.stopped && peer !== undefined) s.log.debug({ peer, reason }, 'bleet connection closed');
      },
      onProblem: (link, error) => {
        s.log.warn({ peer: link.peer?.nodeId ?? link.socket.remote, code: error.code }, error.message);
      },
    };
    const link = new BleetLink(socket, { self: s.self(), flocks: s.flocks, handlers, limits: s.o.limits ?? DEFAULT_LINK_LIMITS });
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
}
