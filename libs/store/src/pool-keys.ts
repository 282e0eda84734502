/** The Redis keys of warm pools (kept beside the pool scripts; `Keys` holds the rest). */
export class PoolKeys {
  constructor(readonly prefix: string) {}

  /** Hash: the pool's definition, image, digest, size, state, pin. */
  pool(id: string): string {
    return `${this.prefix}pool:${id}`;
  }
  /** Hash: warm pod id -> `digest admittedMs`, for pods not claimed nor retired. */
  members(id: string): string {
    return `${this.prefix}pool:${id}:members`;
  }
  /** Zset: retired pod id -> when its stop may be sent (again), until the pod has ended. */
  retiring(id: string): string {
    return `${this.prefix}pool:${id}:retiring`;
  }
  /** Hash of counters: `started:<digest>`, `claimed:<digest>`, `retired:<digest>`, `ended:<phase>`. */
  stats(id: string): string {
    return `${this.prefix}pool:${id}:stats`;
  }
  /** Set: ids of pins the pool made for an earlier image reference, removed once it no longer runs it. */
  oldPins(id: string): string {
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
  names(): string {
    return `${this.prefix}pools:names`;
  }
  /** Channel: a pool was created, changed, claimed from or drained (message: pool id). */
  changed(): string {
    return `${this.prefix}pools:changed`;
  }
}
