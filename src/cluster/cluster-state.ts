/**
 * What the parts of a node's cluster view share: its options, the member
 * table, whether it has joined, the dialer and the outgoing bleet links.
 * ClusterNode (cluster-node.ts) makes one and hands it to each part
 * (farm-view.ts, member-gossip.ts, bleet-links.ts); the comment on each
 * field says which parts change it.
 */
import type { Logger } from '../log.js';
import type { BleetLink, LinkLimits } from './bleet-link.js';
import type { BleetMethod, BleetRequest, BleetResponse } from './bleet-messages.js';
import { MemberTable, type MemberInfo } from './membership.js';
import type { PeerDialer } from './peer-dialer.js';
import type { WriteQuorum } from './quorum.js';
import type { Transport } from './transport.js';

/** Serves the bleets that reach this node (all but `members`, which the cluster answers). */
export type BleetHandler = <M extends Exclude<BleetMethod, 'members'>>(
  method: M,
  body: BleetRequest<M>,
  from: MemberInfo,
  ttlMs: number,
) => Promise<BleetResponse<M>>;

export interface ClusterOptions {
  /** This node's entry; its bleetUrl is filled in by `start()` and its httpUrl by `setHttpUrl` once listening. */
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

export class ClusterState {
  readonly o: ClusterOptions;
  readonly selfId: string;
  readonly flocks: number;
  readonly now: () => number;
  readonly log: Logger;
  /**
   * The member table: merged into by gossip (member-gossip.ts), members marked
   * heard by the links (bleet-links.ts), this node's own entry updated and
   * dead members removed by the facade.
   */
  readonly table: MemberTable;
  /** Set once, by the first member table pulled from a peer (member-gossip.ts); true from the start for a lone node. */
  joined: boolean;
  /** Set by stop (the facade): connections closing from then on are expected. */
  stopped = false;
  /** Made by start (the facade) when there is a transport; gossip and the links want and unwant URLs on it. */
  dialer: PeerDialer | null = null;
  /** Outgoing, ready, by peer node id: set at hello and deleted at close (bleet-links.ts); gossip pings and pulls over them. */
  readonly links = new Map<string, BleetLink>();

  constructor(options: ClusterOptions) {
    this.o = options;
    this.selfId = options.self.nodeId;
    this.flocks = options.flocks;
    this.now = options.now ?? Date.now;
    this.log = options.logger;
    this.table = new MemberTable(options.self, { suspectAfterMs: options.suspectAfterMs, deadAfterMs: options.deadAfterMs }, this.now());
    if (options.knownMembers !== undefined) this.table.merge(options.knownMembers, 0, this.now());
    this.joined = options.peers.length === 0 && this.table.size === 1;
  }

  self(): MemberInfo {
    return this.table.get(this.selfId)!;
  }

  isLive(nodeId: string): boolean {
    return this.table.isLive(nodeId, this.now());
  }

  /** A ready outgoing connection to a member, if there is one. */
  linkTo(nodeId: string): BleetLink | undefined {
    const link = this.links.get(nodeId);
    return link?.ready === true ? link : undefined;
  }
}
