/**
 * A node's farm map and flock routes for its current member table: the map
 * (kept while only what members herd changes), the flocks each member
 * announces herding, and each flock's roles. Computed again by the gossip
 * (member-gossip.ts) at every change of the table; read by the facade.
 * The derivations themselves are pure (flock-routes.ts, farm-map.ts,
 * herding.ts).
 */
import type { ClusterState } from './cluster-state.js';
import { computeFarmMap, type FarmMap } from './farm-map.js';
import { announcedHerders, farmKey, farmMembers, flockRoute, flocksToLearn, type FlockRoute } from './flock-routes.js';
import { decodeFlockSet, flockRoles, mayDrop, type FlockRoles } from './herding.js';

export class FarmView {
  readonly #s: ClusterState;
  readonly #replicas: number;
  #farm: FarmMap;
  /** The table version the map was last computed or confirmed at (GET /cluster's mapVersion). */
  version = 0;
  /** The last map computed, and the members it was computed from (see #compute). */
  #key = '';
  #byMembers: FarmMap | null = null;
  /** Flocks each (not removed) member announces herding. */
  #herdingBy = new Map<string, Set<number>>();
  #roles: FlockRoles[] = [];

  constructor(state: ClusterState, replicas: number) {
    this.#s = state;
    this.#replicas = replicas;
    this.#farm = this.#compute();
  }

  get map(): FarmMap {
    return this.#farm;
  }

  get herdingBy(): ReadonlyMap<string, ReadonlySet<number>> {
    return this.#herdingBy;
  }

  /** Follows a change of the member table. */
  recompute(): void {
    this.#farm = this.#compute();
  }

  #compute(): FarmMap {
    const { table, flocks, log } = this.#s;
    const live = table.list().filter((m) => m.removed !== true);
    this.version = table.version;
    // Most changes of the table are what members herd, not who they are or declare: the map stays.
    const key = farmKey(live);
    if (this.#key !== key || this.#byMembers === null) {
      const members = farmMembers(live, flocks, (m, err) => {
        log.warn({ nodeId: m.nodeId, farm: m.farm, err: err.message }, 'member has an invalid farm; it herds nothing');
      });
      this.#key = key;
      this.#byMembers = computeFarmMap(members, { flocks, replicas: this.#replicas });
    }
    const farm = this.#byMembers;
    this.#herdingBy = new Map(live.map((m) => [m.nodeId, decodeFlockSet(m.herding, flocks)]));
    const learningBy = new Map(live.map((m) => [m.nodeId, decodeFlockSet(m.learning, flocks)]));
    this.#roles = farm.herders.map((target, flock) => flockRoles(flock, target, this.#herdingBy, learningBy));
    return farm;
  }

  /** The herders, learners and the active node of a flock, in this node's view. */
  route(flock: number): FlockRoute {
    const { table } = this.#s;
    const now = this.#s.now();
    return flockRoute(flock, this.#farm, this.#roles[flock], (nodeId) => table.isLive(nodeId, now) && table.get(nodeId)?.stopping !== true);
  }

  /** Flocks nobody herds yet (never claimed): their target herders start herding when they claim. */
  isFresh(flock: number): boolean {
    return this.#roles[flock]?.fresh ?? true;
  }

  /** Members that announce herding a flock. */
  announcedHerders(flock: number): string[] {
    return announcedHerders(flock, this.#herdingBy);
  }

  /** The flocks this node announces herding. */
  herding(): Set<number> {
    return new Set(this.#herdingBy.get(this.#s.selfId) ?? []);
  }

  /** Flocks this node should herd but does not yet, and which somebody herds (so it must copy them). */
  toLearn(herding: ReadonlySet<number>): number[] {
    return flocksToLearn(this.#s.selfId, this.#s.joined, this.#farm, this.#roles, herding);
  }

  /** Whether this node may drop a flock it herds (no longer a target herder, and every target herder herds it). */
  mayDrop(flock: number): boolean {
    return mayDrop(flock, this.#s.selfId, this.#farm.herders[flock] ?? [], this.#herdingBy);
  }
}
