/**
 * Every Redis key and channel warmpod uses, in one place. Scripts that reach
 * records by id (a pool's members' pod status hashes, an active pin) are
 * given the stem (`podStatusStem`, `pinStem`, `poolStem`, `checkpointStem`) and append
 * the id, so the format is still written only here.
 */
export class Keys {
  constructor(readonly prefix: string) {}

  // Pods

  /** String: the immutable JSON definition of a pod. */
  podSpec(id: string): string {
    return `${this.prefix}pod:${id}:spec`;
  }
  /** Hash: phase, `t:<Phase>` timestamps and the other status fields. */
  podStatus(id: string): string {
    return `${this.podStatusStem()}${id}`;
  }
  /** What a pod id is appended to for its status hash. */
  podStatusStem(): string {
    return `${this.prefix}pod:`;
  }
  /** Zset: a tenant's pod ids by creation time. */
  tenantPods(tenant: string): string {
    return `${this.prefix}tenant:${tenant}:pods`;
  }
  /** Hash: pod id -> `cpuMilli memoryMiB gpu restarts` of the tenant's pods charged to its quotas (see tenantUse.lua). */
  quotaPods(tenant: string): string {
    return `${this.prefix}tenant:${tenant}:quota-pods`;
  }
  /** String `bodyHash podId`, 24 h. */
  idempotency(tenant: string, key: string): string {
    return `${this.prefix}idem:${tenant}:${key}`;
  }
  /** Hash: pods waiting for room -> their schedule-pod job id. */
  backlog(): string {
    return `${this.prefix}backlog`;
  }

  // Callers

  /** Hash {tokens, at}: the request bucket of one bearer token, by its non-secret id. */
  rateBucket(tokenId: string): string {
    return `${this.prefix}ratelimit:${tokenId}`;
  }

  // The queue door (BullMQ builds the keys under these prefixes; the ACL users are fenced by them)

  /** BullMQ prefix of a tenant's intake queue (`pods`): its producer's Redis user may touch only this and its own queues. */
  intakePrefix(tenant: string): string {
    return `${this.intakeStem()}${tenant}`;
  }
  /** What every intake prefix starts with (the door's consumer user reaches all of them). */
  intakeStem(): string {
    return `${this.prefix}intake:`;
  }
  /** BullMQ prefix for a tenant's own queues (a flow's parent waiting for its pods), reachable by the door's consumer. */
  tenantQueuesPrefix(tenant: string): string {
    return `${this.tenantQueuesStem()}${tenant}`;
  }
  tenantQueuesStem(): string {
    return `${this.prefix}tq:`;
  }
  /**
   * What the keys of warmpod's own BullMQ queues whose names start with
   * `nameStart` begin with (libs/jobs: BullMQ prefix = the prefix without its
   * trailing colons); the prepuller's Redis user may write node queues only.
   */
  internalQueueKeys(nameStart: string): string {
    return `${this.prefix.replace(/:+$/, '')}:${nameStart}`;
  }
  /** SCAN pattern of every intake queue's meta hash (finds queues of tenants the door does not serve). */
  intakeQueueMetas(queue: string): string {
    return `${this.intakeStem()}*:${queue}:meta`;
  }

  // Nodes and capacity

  /** Set of registered node ids. */
  nodes(): string {
    return `${this.prefix}nodes`;
  }
  /** Hash: a node's registration, liveness, session and reports. */
  node(id: string): string {
    return `${this.prefix}node:${id}`;
  }
  /** Hash: cached digest -> `sizeBytes layerCount`. */
  nodeImages(id: string): string {
    return `${this.prefix}node:${id}:images`;
  }
  /** Hash: reserved totals (`cpuMilli`, `memoryMiB`, `gpu`) and `rev`. */
  nodeUsage(id: string): string {
    return `${this.prefix}node:${id}:usage`;
  }
  /** Hash: pod id -> `cpuMilli memoryMiB gpu` reserved for it. */
  nodeReservations(id: string): string {
    return `${this.prefix}node:${id}:reservations`;
  }
  /** Channel: a reservation was released (message: `nodeId cpuMilli memoryMiB gpu rev`, the usage after it). */
  capacityFreed(): string {
    return `${this.prefix}capacity:freed`;
  }
  /** Channel: a reservation was made (message as on `capacity:freed`). */
  capacityReserved(): string {
    return `${this.prefix}capacity:reserved`;
  }
  /** Channel: a node's registration, inventory, cordon or loss changed (message: `{nodeId, what}`, see change-messages.ts); heartbeats are not announced. */
  nodesChanged(): string {
    return `${this.prefix}nodes:changed`;
  }

  // Images

  /** String: the layers of a manifest as nodes report them, stored once for all nodes (see putImages.lua). */
  layers(digest: string): string {
    return `${this.prefix}layers:${digest}`;
  }
  /** String: a pinned digest's layers and size, written once at admission. */
  image(digest: string): string {
    return `${this.prefix}image:${digest}`;
  }

  // Prepulling

  /** Zset: pinned references no node held when a pod needed them (score: first asked for). */
  prepullHints(): string {
    return `${this.prefix}prepull:hints`;
  }
  /** Hash: hinted reference -> the node chosen to pull it. */
  prepullHintNodes(): string {
    return `${this.prefix}prepull:hints:node`;
  }
  /** Channel: a hint was added (message: the pinned reference). */
  prepullHintsAdded(): string {
    return `${this.prefix}prepull:hints:added`;
  }
  /** Set: digests a node's cache GC must never evict. */
  protectedDigests(node: string): string {
    return `${this.prefix}prepull:protected:${node}`;
  }
  /** Set: nodes that have a protected set. */
  protectedNodes(): string {
    return `${this.prefix}prepull:protected:nodes`;
  }
  /** Hash: one node's pull of one digest (state, progress, reason). */
  pull(node: string, digest: string): string {
    return `${this.prefix}pull:${node}:${digest}`;
  }
  /** SCAN pattern of every pull record of a node. */
  pullsOfNode(node: string): string {
    return this.pull(node, '*');
  }
  /** Hash: pulls in flight, `total` and one field per node. */
  pullsInflight(): string {
    return `${this.prefix}pulls:inflight`;
  }
  /** Channel: a pull was claimed or ended (message: `node digest`). */
  pullsChanged(): string {
    return `${this.prefix}pulls:changed`;
  }

  // Pins

  /** Hash: a pin (its JSON definition, digest, state, supersession links). */
  pin(id: string): string {
    return `${this.pinStem()}${id}`;
  }
  /** What a pin id is appended to for its hash. */
  pinStem(): string {
    return `${this.prefix}pin:`;
  }
  /** Zset: a tenant's pin ids by creation time. */
  tenantPins(tenant: string): string {
    return `${this.prefix}tenant:${tenant}:pins`;
  }
  /** Hash: `tenant reference` -> id of the active pin for that reference. */
  activePins(): string {
    return `${this.prefix}pins:active`;
  }
  /** Set of superseded pin ids still kept for rotation. */
  supersededPins(): string {
    return `${this.prefix}pins:superseded`;
  }
  /** Channel: a pin was created, superseded or removed (message: pin id). */
  pinsChanged(): string {
    return `${this.prefix}pins:changed`;
  }

  // Warm pools

  /** Hash: the pool's definition, image, digest, size, state, pin. */
  pool(id: string): string {
    return `${this.poolStem()}${id}`;
  }
  /** What a pool id is appended to for its hash. */
  poolStem(): string {
    return `${this.prefix}pool:`;
  }
  /** Hash: warm pod id -> `digest admittedMs`, for pods not claimed nor retired. */
  poolMembers(id: string): string {
    return `${this.prefix}pool:${id}:members`;
  }
  /** Zset: retired pod id -> when its stop may be sent (again), until the pod has ended. */
  poolRetiring(id: string): string {
    return `${this.prefix}pool:${id}:retiring`;
  }
  /** Hash of counters: `started:<digest>`, `claimed:<digest>`, `retired:<digest>`, `ended:<phase>`. */
  poolStats(id: string): string {
    return `${this.prefix}pool:${id}:stats`;
  }
  /** Set: ids of pins the pool made for an earlier image reference, removed once it no longer runs it. */
  poolOldPins(id: string): string {
    return `${this.prefix}pool:${id}:oldpins`;
  }
  /** Set of every pool id (the controller's work list). */
  pools(): string {
    return `${this.prefix}pools`;
  }
  /** Set of one tenant's pool ids. */
  tenantPools(tenant: string): string {
    return `${this.prefix}pools:tenant:${tenant}`;
  }
  /** Hash: `tenant name` -> id of the active pool with that name. */
  poolNames(): string {
    return `${this.prefix}pools:names`;
  }
  /** Channel: a pool was created, changed, claimed from or drained (message: pool id). */
  poolsChanged(): string {
    return `${this.prefix}pools:changed`;
  }

  // Events (what SSE clients follow; see event-log.ts)

  /** Stream: every event of every tenant, trimmed to about EVENT_BOUNDS.all (what operators follow). */
  allEvents(): string {
    return `${this.prefix}events:all`;
  }
  /** Stream: one tenant's events (pods, pins, pools, checkpoints), under the same ids as in `allEvents`. */
  tenantEvents(tenant: string): string {
    return `${this.tenantEventsStem()}${tenant}`;
  }
  /** What a tenant is appended to for its event stream (the pod scripts learn the tenant from the pod). */
  tenantEventsStem(): string {
    return `${this.prefix}events:tenant:`;
  }
  /** Stream: one pod's events, expiring a while after its last one. */
  podEvents(id: string): string {
    return `${this.podEventsStem()}${id}`;
  }
  /** What a pod id is appended to for its event stream. */
  podEventsStem(): string {
    return `${this.prefix}events:pod:`;
  }

  // Checkpoints

  /** Hash: one checkpoint record. */
  checkpoint(id: string): string {
    return `${this.checkpointStem()}${id}`;
  }
  /** What a checkpoint id is appended to for its record. */
  checkpointStem(): string {
    return `${this.prefix}ckpt:`;
  }
  /** Zset: a tenant's checkpoints by creation time. */
  tenantCheckpoints(tenant: string): string {
    return `${this.prefix}tenant:${tenant}:ckpts`;
  }
  /** Zset: a node's checkpoints by creation time. */
  nodeCheckpoints(node: string): string {
    return `${this.prefix}node:${node}:ckpts`;
  }
  /** Zset: the restorable checkpoints of one full key on one node, newest last (what a start looks up). */
  restorableCheckpoints(node: string, key: string): string {
    return `${this.prefix}node:${node}:ckpt-key:${key}`;
  }
  /** Zset: checkpoints of one spec key pushed to the registry, by creation time (what any compatible node may fetch). */
  checkpointArtifacts(specKey: string): string {
    return `${this.prefix}ckpt-artifacts:${specKey}`;
  }
  /** SCAN pattern of every node's checkpoint zset (`nodeCheckpoints`): nodes that hold or held checkpoints. */
  nodeCheckpointsPattern(): string {
    return `${this.prefix}node:*:ckpts`;
  }
  /** The node id in a key `nodeCheckpointsPattern` matched. */
  nodeOfCheckpointsKey(key: string): string | undefined {
    const head = `${this.prefix}node:`;
    return key.startsWith(head) && key.endsWith(':ckpts') ? key.slice(head.length, -':ckpts'.length) : undefined;
  }
  /** Set: registry artifacts (JSON `{tenant, artifact}`) of checkpoints that are gone, until their delete is confirmed. */
  checkpointArtifactGarbage(): string {
    return `${this.prefix}ckpt-artifact-garbage`;
  }
  /** Set: the nodes holding a fetched copy of a checkpoint (besides the node that took it). */
  checkpointCopies(id: string): string {
    return `${this.prefix}ckpt:${id}:copies`;
  }
}
