import type { Redis } from 'ioredis';
import { podCharge, type QuotaValues } from '@warmpod/domain';
import { EventLog, type EventLogOptions } from './event-log';
import { Keys } from './keys';
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
  admitMember,
  claimStop,
  claimWarmPod,
  clearPoolBackoff,
  createPool,
  drainPool,
  finishDrain,
  pruneMember,
  retireMember,
  setPoolPin,
  updatePool,
} from './scripts/pool-scripts';
import { lostBeforeIso, podChargeArg, podLimitsArg, type OverQuota } from './tenant-quotas';

const IDEMPOTENCY_TTL_SEC = 24 * 3600;

/**
 * Warm pools: definitions per tenant, their members, and the atomic steps
 * (claim, admit, retire, prune) that keep a pool's invariants with any
 * number of gateways and scheduler replicas acting at once.
 */
export class PoolRepository {
  private readonly keys: Keys;
  private readonly events: EventLog;

  /** `opts.events: false`: no event is appended (WARMPOD_EVENTS=off). */
  constructor(
    private readonly redis: Redis,
    prefix: string,
    opts: EventLogOptions = {},
  ) {
    this.keys = new Keys(prefix);
    this.events = new EventLog(redis, prefix, opts);
  }

  /** Channel: a pool was created, changed, claimed from or drained (message: pool id). */
  get changesChannel(): string {
    return this.keys.poolsChanged();
  }

  /**
   * Stores a new pool unless the tenant already has an active pool of that name or, with `limits`,
   * its size would take the tenant's active pools past their pool-pods quota.
   */
  async create(pool: NewPool, limits?: QuotaValues): Promise<'created' | 'exists' | OverQuota> {
    const def = {
      id: pool.id,
      tenant: pool.tenant,
      name: pool.name,
      createdAt: pool.createdAt,
      template: pool.template,
      nodeSelector: pool.nodeSelector,
    };
    const outcome = await createPool.run(
      this.redis,
      {
        pool: this.keys.pool(pool.id),
        names: this.keys.poolNames(),
        pools: this.keys.pools(),
        tenantPools: this.keys.tenantPools(pool.tenant),
      },
      {
        id: pool.id,
        nameField: nameField(pool.tenant, pool.name),
        defJson: JSON.stringify(def),
        imageJson: imageJson(pool.image),
        digest: pool.image.digest,
        size: pool.size,
        nowIso: pool.createdAt,
        channel: this.keys.poolsChanged(),
        poolStem: this.keys.poolStem(),
        poolPodsLimit: limits ? limits.poolPods : '',
      },
    );
    if (outcome === 'created')
      await this.events.append(pool.tenant, 'pool', pool.id, {
        state: 'active',
        name: pool.name,
        size: pool.size,
        digest: pool.image.digest,
      });
    return outcome;
  }

  async get(id: string): Promise<PoolRecord | undefined> {
    return parsePool(await this.redis.hgetall(this.keys.pool(id)));
  }

  /** The tenant's active pool of that name. */
  async findByName(tenant: string, name: string): Promise<PoolRecord | undefined> {
    const id = await this.redis.hget(this.keys.poolNames(), nameField(tenant, name));
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
   * With `limits`, growing past the tenant's pool-pods quota is refused and nothing changes.
   */
  async update(
    pool: Pick<PoolRecord, 'id' | 'name' | 'tenant'>,
    change: { size?: number; image?: PoolImage },
    limits?: QuotaValues,
  ): Promise<{ applied: boolean; rotated: boolean } | OverQuota> {
    const id = pool.id;
    const keys = { ...this.memberKeys(id), tenantPools: this.keys.tenantPools(pool.tenant) };
    const result = await updatePool.run(this.redis, keys, {
      size: change.size === undefined ? '' : change.size,
      imageJson: change.image ? imageJson(change.image) : '',
      digest: change.image?.digest ?? '',
      nowIso: new Date().toISOString(),
      channel: this.keys.poolsChanged(),
      id,
      statusStem: this.keys.podStatusStem(),
      message: `retired by pool ${pool.name}: the pool moved to ${change.image?.digest.slice(0, 19) ?? ''} before this pod ran`,
      nowMs: Date.now(),
      poolStem: this.keys.poolStem(),
      poolPodsLimit: limits ? limits.poolPods : '',
    });
    if (typeof result === 'object') return result;
    if (result >= 0)
      await this.events.append(pool.tenant, 'pool', id, {
        state: 'active',
        name: pool.name,
        ...(change.size !== undefined ? { size: change.size } : {}),
        ...(change.image ? { digest: change.image.digest } : {}),
        rotated: result === 1,
      });
    return { applied: result >= 0, rotated: result === 1 };
  }

  /** Starts draining an active pool; its name is free at once. */
  async drain(pool: Pick<PoolRecord, 'id' | 'tenant' | 'name'>): Promise<boolean> {
    const drained = await drainPool.run(
      this.redis,
      { pool: this.keys.pool(pool.id), names: this.keys.poolNames() },
      { nameField: nameField(pool.tenant, pool.name), id: pool.id, nowIso: new Date().toISOString(), channel: this.keys.poolsChanged() },
    );
    if (drained) await this.events.append(pool.tenant, 'pool', pool.id, { state: 'draining', name: pool.name });
    return drained;
  }

  /** Removes a drained pool once it has no member and nothing left retiring. */
  async finishDrain(pool: Pick<PoolRecord, 'id' | 'tenant'>): Promise<boolean> {
    const removed = await finishDrain.run(
      this.redis,
      {
        ...this.memberKeys(pool.id),
        pools: this.keys.pools(),
        tenantPools: this.keys.tenantPools(pool.tenant),
        oldPins: this.keys.poolOldPins(pool.id),
      },
      { id: pool.id },
    );
    if (removed) await this.events.append(pool.tenant, 'pool', pool.id, { state: 'removed' });
    return removed;
  }

  async members(id: string): Promise<PoolMember[]> {
    const raw = await this.redis.hgetall(this.keys.poolMembers(id));
    return Object.entries(raw)
      .flatMap(([podId, value]) => {
        const [digest, at] = value.split(' ');
        return digest && at ? [{ podId, digest, admittedAt: Number(at) }] : [];
      })
      .sort((a, b) => a.admittedAt - b.admittedAt || a.podId.localeCompare(b.podId));
  }

  async isMember(id: string, podId: string): Promise<boolean> {
    return (await this.redis.hexists(this.keys.poolMembers(id), podId)) === 1;
  }

  /** Takes a slot for a new warm pod of `digest`, if the pool still needs one. */
  async admit(id: string, podId: string, digest: string, graceMs: number, now = Date.now()): Promise<AdmitOutcome> {
    return admitMember.run(
      this.redis,
      { pool: this.keys.pool(id), members: this.keys.poolMembers(id), stats: this.keys.poolStats(id) },
      { statusStem: this.keys.podStatusStem(), podId, digest, nowMs: now, graceMs },
    );
  }

  /**
   * Hands one Running warm pod to the caller (current digest first), in one step; the pod is charged to
   * the tenant's pod quotas in that step (over one of `limits`: refused, the pod stays in the pool).
   */
  async claim(
    pool: Pick<PoolRecord, 'id' | 'tenant' | 'name' | 'template'>,
    idempotency?: { key: string; bodyHash: string },
    limits?: QuotaValues,
  ): Promise<ClaimOutcome> {
    const reply = await claimWarmPod.run(
      this.redis,
      {
        pool: this.keys.pool(pool.id),
        members: this.keys.poolMembers(pool.id),
        stats: this.keys.poolStats(pool.id),
        quotaPods: this.keys.quotaPods(pool.tenant),
      },
      {
        statusStem: this.keys.podStatusStem(),
        bodyHash: idempotency?.bodyHash ?? '',
        idemTtlSec: IDEMPOTENCY_TTL_SEC,
        message: `claimed from warm pool ${pool.name}`,
        channel: this.keys.poolsChanged(),
        poolId: pool.id,
        charge: podChargeArg(podCharge({ resources: pool.template.resources, restartPolicy: 'Never' })),
        limits: limits ? podLimitsArg(limits) : '',
        lostBeforeIso: lostBeforeIso(),
      },
      { keys: idempotency ? [this.keys.idempotency(pool.tenant, idempotency.key)] : [] },
    );
    if (reply.kind !== 'exists') return reply;
    return reply.bodyHash === idempotency?.bodyHash ? { kind: 'replay', podId: reply.podId } : { kind: 'conflict', podId: reply.podId };
  }

  /** Retires a member when its mode allows it now; the caller then stops the pod (see `retiring`). */
  async retire(id: string, podId: string, mode: RetireMode, message: string, graceMs: number, now = Date.now()): Promise<RetireOutcome> {
    return retireMember.run(this.redis, this.memberKeys(id), {
      statusStem: this.keys.podStatusStem(),
      podId,
      mode,
      nowMs: now,
      graceMs,
      message,
    });
  }

  /** Drops a member whose pod ended (or never got a record); returns its end, 'live' or 'absent'. */
  async prune(id: string, podId: string, opts: PruneOptions, now = Date.now()): Promise<string> {
    return pruneMember.run(
      this.redis,
      { pool: this.keys.pool(id), members: this.keys.poolMembers(id), stats: this.keys.poolStats(id) },
      {
        statusStem: this.keys.podStatusStem(),
        podId,
        nowMs: now,
        graceMs: opts.graceMs,
        backoffBaseMs: opts.backoffBaseMs,
        backoffMaxMs: opts.backoffMaxMs,
      },
    );
  }

  /** A member reached Running: pods of this template do stay up, so refills need not wait. */
  async clearBackoff(id: string): Promise<void> {
    await clearPoolBackoff.run(this.redis, { pool: this.keys.pool(id) }, {});
  }

  /** Retired pods not yet seen ended. */
  async retiring(id: string): Promise<string[]> {
    return this.redis.zrange(this.keys.poolRetiring(id), 0, -1);
  }

  /** True for the one caller that should send the retired pod's stop now (again only after `resendMs`). */
  async claimStop(id: string, podId: string, resendMs: number, now = Date.now()): Promise<boolean> {
    return claimStop.run(this.redis, { retiring: this.keys.poolRetiring(id) }, { podId, nowMs: now, resendMs });
  }

  async retired(id: string, podId: string): Promise<void> {
    await this.redis.zrem(this.keys.poolRetiring(id), podId);
  }

  /** Records the pin warming `digest` (ignored when the pool moved on meanwhile). */
  async setPin(id: string, digest: string, pinId: string, owned: boolean): Promise<boolean> {
    return setPoolPin.run(
      this.redis,
      { pool: this.keys.pool(id), oldPins: this.keys.poolOldPins(id) },
      { digest, pinId, owned: owned ? '1' : '0' },
    );
  }

  /** Pins the pool made for earlier references. */
  async oldPins(id: string): Promise<string[]> {
    return this.redis.smembers(this.keys.poolOldPins(id));
  }

  async forgetOldPin(id: string, pinId: string): Promise<void> {
    await this.redis.srem(this.keys.poolOldPins(id), pinId);
  }

  /** Counters: `started:<digest>`, `claimed:<digest>`, `retired:<digest>`, `ended:<phase>`. */
  async stats(id: string): Promise<Record<string, number>> {
    const raw = await this.redis.hgetall(this.keys.poolStats(id));
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
  }

  private memberKeys(id: string): { pool: string; members: string; retiring: string; stats: string } {
    return {
      pool: this.keys.pool(id),
      members: this.keys.poolMembers(id),
      retiring: this.keys.poolRetiring(id),
      stats: this.keys.poolStats(id),
    };
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
