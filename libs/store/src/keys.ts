/** Every Redis key warmpod uses, in one place. */
export class Keys {
  constructor(readonly prefix: string) {}
  podSpec(id: string): string {
    return `${this.prefix}pod:${id}:spec`;
  }
  podStatus(id: string): string {
    return `${this.prefix}pod:${id}`;
  }
  tenantPods(tenant: string): string {
    return `${this.prefix}tenant:${tenant}:pods`;
  }
  idempotency(tenant: string, key: string): string {
    return `${this.prefix}idem:${tenant}:${key}`;
  }
  nodes(): string {
    return `${this.prefix}nodes`;
  }
  node(id: string): string {
    return `${this.prefix}node:${id}`;
  }
  nodeImages(id: string): string {
    return `${this.prefix}node:${id}:images`;
  }
  nodeUsage(id: string): string {
    return `${this.prefix}node:${id}:usage`;
  }
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
  /** Channel: a node's registration, inventory, cordon or loss changed (message: node id); heartbeats are not announced. */
  nodesChanged(): string {
    return `${this.prefix}nodes:changed`;
  }
  /** The layers of a manifest as nodes report them, stored once for all nodes (see lua.ts putImages). */
  layers(digest: string): string {
    return `${this.prefix}layers:${digest}`;
  }
  image(digest: string): string {
    return `${this.prefix}image:${digest}`;
  }
  prepullHints(): string {
    return `${this.prefix}prepull:hints`;
  }
  pull(node: string, digest: string): string {
    return `${this.prefix}pull:${node}:${digest}`;
  }
  pullsInflight(): string {
    return `${this.prefix}pulls:inflight`;
  }
  /** Channel: a pull was claimed or ended (message: `node digest`). */
  pullsChanged(): string {
    return `${this.prefix}pulls:changed`;
  }
  pin(id: string): string {
    return `${this.prefix}pin:${id}`;
  }
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
}
