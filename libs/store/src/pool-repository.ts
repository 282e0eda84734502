import type { Redis } from 'ioredis';
import { Keys } from './keys';
import { PoolKeys } from './pool-keys';
import {
  parsePool,
  type AdmitOutcome,
  type ClaimOutcome,
  type NewPool,
  type PoolImage,
  type PoolMember,
  type PoolRecord,
  type PruneOptions,
  type RetireMode,
  type RetireOutcome,
} from './pool-record';
import {
  ADMIT_MEMBER,
  CLAIM_STOP,
  CLAIM_WARM_POD,
  CREATE_POOL,
  DRAIN_POOL,
  FINISH_DRAIN,
  PRUNE_MEMBER,
  RETIRE_MEMBER,
  SET_POOL_PIN,
  UPDATE_POOL,
} from './pool-lua';

const IDEMPOTENCY_TTL_SEC = 24 * 3600;

/**
 * Warm pools: definitions per tenant, their members, and the atomic steps
 * (claim, admit, retire, prune) that keep a pool's invariants with any
 * number of gateways and scheduler replicas acting at once.
 */
export class PoolRepository {
  private readonly keys: PoolKeys;
  private readonly podKeys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new PoolKeys(prefix);
    this.podKeys = new Keys(prefix);
  }

  /** Channel: a pool was created, changed, claimed from or drained (message: pool id). */
  get changesChannel(): string {
    return this.keys.changed();
  }

  private get statusPrefix(): string {
    return this.podKeys.podStatus('');
  }

  /** Stores a new pool unless the tenant already has an active pool of that name. */
  async create(pool: NewPool): Promise<'created' | 'exists'> {
    const def = {
      id: pool.id,
      tenant: pool.tenant,
      name: pool.name,
      createdAt: pool.createdAt,
      template: pool.template,
      nodeSelector: pool.nodeSelector,
    };
    const [outcome] = (await this.redis.eval(
      CREATE_POOL,
      4,
      this.keys.pool(pool.id),
      this.keys.names(),
      this.keys.pools(),
      this.keys.tenantPools(pool.tenant),
      pool.id,
      nameField(pool.tenant, pool.name),
      JSON.stringify(def),
      imageJson(pool.image),
      pool.image.digest,
      String(pool.size),
      pool.createdAt,
      this.keys.changed(),
    )) as [string, string];
    return outcome === 'created' ? 'created' : 'exists';
  }

  async get(id: string): Promise<PoolRecord | undefined> {
    return parsePool(await this.redis.hgetall(this.keys.pool(id)));
  }

  /** The tenant's active pool of that name. */
  async findByName(tenant: string, name: string): Promise<PoolRecord | undefined> {
    const id = await this.redis.hget(this.keys.names(), nameField(tenant, name));
    if (!id) return undefined;
    const pool = await this.get(id);
    return pool?.state === 'active' ? pool : undefined;
  }

  /** The tenant's pools, draining ones included, by name. */
  async listByTenant(tenant: string): Promise<PoolRecord[]> {
    return this.load(await this.redis.smembers(this.keys.tenantPools(tenant)));
  }

  /** Every pool id (what a controller reconciles). */
  async ids(): Promise<string[]> {
    return this.redis.smembers(this.keys.pools());
  }

  /**
   * Resize and/or move to a new image. `rotated` when the digest changed (old pods not Running yet are
   * retired and marked stop-requested in the same step); `applied` false when the pool is not active.
   */
  async update(
    pool: Pick<PoolRecord, 'id' | 'name'>,
    change: { size?: number; image?: PoolImage },
  ): Promise<{ applied: boolean; rotated: boolean }> {
    const id = pool.id;
    const result = (await this.redis.eval(
      UPDATE_POOL,
      4,
      this.keys.pool(id),
      this.keys.members(id),
      this.keys.retiring(id),
      this.keys.stats(id),
      change.size === undefined ? '' : String(change.size),
      change.image ? imageJson(change.image) : '',
      change.image?.digest ?? '',
      new Date().toISOString(),
      this.keys.changed(),
      id,
      this.statusPrefix,
      `retired by pool ${pool.name}: the pool moved to ${change.image?.digest.slice(0, 19) ?? ''} before this pod ran`,
      String(Date.now()),
    )) as number;
    return { applied: result >= 0, rotated: result === 1 };
  }

  /** Starts draining an active pool; its name is free at once. */
  async drain(pool: Pick<PoolRecord, 'id' | 'tenant' | 'name'>): Promise<boolean> {
    const result = (await this.redis.eval(
      DRAIN_POOL,
      2,
      this.keys.pool(pool.id),
      this.keys.names(),
      nameField(pool.tenant, pool.name),
      pool.id,
      new Date().toISOString(),
      this.keys.changed(),
    )) as number;
    return result === 1;
  }

  /** Removes a drained pool once it has no member and nothing left retiring. */
  async finishDrain(pool: Pick<PoolRecord, 'id' | 'tenant'>): Promise<boolean> {
    const result = (await this.redis.eval(
      FINISH_DRAIN,
      7,
      this.keys.pool(pool.id),
      this.keys.members(pool.id),
      this.keys.retiring(pool.id),
      this.keys.stats(pool.id),
      this.keys.pools(),
      this.keys.tenantPools(pool.tenant),
      this.keys.oldPins(pool.id),
      pool.id,
    )) as number;
    return result === 1;
  }

  async members(id: string): Promise<PoolMember[]> {
    const raw = await this.redis.hgetall(this.keys.members(id));
    return Object.entries(raw)
      .flatMap(([podId, value]) => {
        const [digest, at] = value.split(' ');
        return digest && at ? [{ podId, digest, admittedAt: Number(at) }] : [];
      })
      .sort((a, b) => a.admittedAt - b.admittedAt || a.podId.localeCompare(b.podId));
  }

  async isMember(id: string, podId: string): Promise<boolean> {
    return (await this.redis.hexists(this.keys.members(id), podId)) === 1;
  }

  /** Takes a slot for a new warm pod of `digest`, if the pool still needs one. */
  async admit(id: string, podId: string, digest: string, graceMs: number, now = Date.now()): Promise<AdmitOutcome> {
    return (await this.redis.eval(
      ADMIT_MEMBER,
      3,
      this.keys.pool(id),
      this.keys.members(id),
      this.keys.stats(id),
      this.statusPrefix,
      podId,
      digest,
      String(now),
      String(graceMs),
    )) as AdmitOutcome;
  }

  /** Hands one Running warm pod to the caller (current digest first), in one step. */
  async claim(pool: Pick<PoolRecord, 'id' | 'tenant' | 'name'>, idempotency?: { key: string; bodyHash: string }): Promise<ClaimOutcome> {
    const reply = (await this.redis.eval(
      CLAIM_WARM_POD,
      4,
      this.keys.pool(pool.id),
      this.keys.members(pool.id),
      this.keys.stats(pool.id),
      idempotency ? this.podKeys.idempotency(pool.tenant, idempotency.key) : '',
      this.statusPrefix,
      idempotency?.bodyHash ?? '',
      String(IDEMPOTENCY_TTL_SEC),
      `claimed from warm pool ${pool.name}`,
      this.keys.changed(),
      pool.id,
    )) as string[];
    switch (reply[0]) {
      case 'claimed':
        return { kind: 'claimed', podId: reply[1]!, digest: reply[2]! };
      case 'exists': {
        const [hash, podId] = reply[1]!.split(' ') as [string, string];
        return hash === idempotency?.bodyHash ? { kind: 'replay', podId } : { kind: 'conflict', podId };
      }
      case 'none':
        return { kind: 'none' };
      default:
        return { kind: 'inactive' };
    }
  }

  /** Retires a member when its mode allows it now; the caller then stops the pod (see `retiring`). */
  async retire(id: string, podId: string, mode: RetireMode, message: string, graceMs: number, now = Date.now()): Promise<RetireOutcome> {
    return (await this.redis.eval(
      RETIRE_MEMBER,
      4,
      this.keys.pool(id),
      this.keys.members(id),
      this.keys.retiring(id),
      this.keys.stats(id),
      this.statusPrefix,
      podId,
      mode,
      String(now),
      String(graceMs),
      message,
    )) as RetireOutcome;
  }

  /** Drops a member whose pod ended (or never got a record); returns its end, 'live' or 'absent'. */
  async prune(id: string, podId: string, opts: PruneOptions, now = Date.now()): Promise<string> {
    return (await this.redis.eval(
      PRUNE_MEMBER,
      3,
      this.keys.pool(id),
      this.keys.members(id),
      this.keys.stats(id),
      this.statusPrefix,
      podId,
      String(now),
      String(opts.graceMs),
      String(opts.backoffBaseMs),
      String(opts.backoffMaxMs),
    )) as string;
  }

  /** A member reached Running: pods of this template do stay up, so refills need not wait. */
  async clearBackoff(id: string): Promise<void> {
    await this.redis.eval(
      `if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'failStreak', 0, 'backoffUntil', 0) end return 1`,
      1,
      this.keys.pool(id),
    );
  }

  /** Retired pods not yet seen ended. */
  async retiring(id: string): Promise<string[]> {
    return this.redis.zrange(this.keys.retiring(id), 0, -1);
  }

  /** True for the one caller that should send the retired pod's stop now (again only after `resendMs`). */
  async claimStop(id: string, podId: string, resendMs: number, now = Date.now()): Promise<boolean> {
    return ((await this.redis.eval(CLAIM_STOP, 1, this.keys.retiring(id), podId, String(now), String(resendMs))) as number) === 1;
  }

  async retired(id: string, podId: string): Promise<void> {
    await this.redis.zrem(this.keys.retiring(id), podId);
  }

  /** Records the pin warming `digest` (ignored when the pool moved on meanwhile). */
  async setPin(id: string, digest: string, pinId: string, owned: boolean): Promise<boolean> {
    const result = (await this.redis.eval(
      SET_POOL_PIN,
      2,
      this.keys.pool(id),
      this.keys.oldPins(id),
      digest,
      pinId,
      owned ? '1' : '0',
    )) as number;
    return result === 1;
  }

  /** Pins the pool made for earlier references. */
  async oldPins(id: string): Promise<string[]> {
    return this.redis.smembers(this.keys.oldPins(id));
  }

  async forgetOldPin(id: string, pinId: string): Promise<void> {
    await this.redis.srem(this.keys.oldPins(id), pinId);
  }

  /** Counters: `started:<digest>`, `claimed:<digest>`, `retired:<digest>`, `ended:<phase>`. */
  async stats(id: string): Promise<Record<string, number>> {
    const raw = await this.redis.hgetall(this.keys.stats(id));
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
  }

  private async load(ids: string[]): Promise<PoolRecord[]> {
    const pools = await Promise.all(ids.map((id) => this.get(id)));
    return pools
      .filter((p): p is PoolRecord => p !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name) || a.createdAt.localeCompare(b.createdAt));
  }
}

function nameField(tenant: string, name: string): string {
  return `${tenant} ${name}`;
}

function imageJson(image: PoolImage): string {
  return JSON.stringify({ requested: image.requested, reference: image.reference, pinned: image.pinned });
}
