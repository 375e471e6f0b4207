export { ClusterNode, type ClusterOptions, type FlockRoute, type BleetHandler, type ClusterCounters } from './cluster-node.js';
export { WsTransport, type WsTransportOptions } from './ws-transport.js';
export { MemoryNetwork, MemoryTransport } from './memory-transport.js';
export type { Transport, FrameSocket } from './transport.js';
export { computeFarmMap, parseFarm, formatFarm, farmSummary, rendezvousScore, type FarmMap, type FarmMember } from './farm-map.js';
export { MemberTable, type MemberInfo, type MemberState } from './membership.js';
export { quorumSize, QuorumCount, parseWriteQuorum, type WriteQuorum } from './quorum.js';
export { replicatedCommit } from './replicator.js';
export { loadMembers, memberSaver } from './member-file.js';
