import { Inject, Injectable } from '@nestjs/common';
import { newId, parseImageReference, POOL_NAME, type PinnedImage } from '@warmpod/domain';
import type { Logger } from '@warmpod/observability';
import { PodRepository, PoolRepository, type PoolImage, type PoolRecord } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { ReadScope } from '../auth/read-scope';
import type { Caller } from '../auth/tokens';
import { ApiError } from '../http/api-error';
import { ImageLayersRecorder } from '../pods/image-layers';
import { PinResolver } from '../pods/pin-resolver';
import { CONFIG, LOGGER } from '../providers';
import { TenantLimits } from '../quotas/tenant-limits';
import { createPoolSchema, normaliseTemplate, parseBody, patchPoolSchema, referenceOf } from './pool-request';
import { toPoolResponse, type PoolResponse } from './pool-response';

/**
 * The pools of a tenant: define, show, resize or re-pin, drain. The image is
 * pinned here, at the door, like a pod's; the scheduler's pool controller
 * does the rest (pin for prepull, warm pods, rotation, drain).
 */
@Injectable()
export class PoolAdmin {
  constructor(
    private readonly pins: PinResolver,
    private readonly layers: ImageLayersRecorder,
    private readonly pools: PoolRepository,
    private readonly pods: PodRepository,
    @Inject(CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly limits: TenantLimits,
    private readonly scope: ReadScope,
  ) {}

  async create(tenant: string, body: unknown): Promise<PoolResponse> {
    const req = parseBody(createPoolSchema, body, 'pool');
    // Cheap before the registry is asked; the store decides for real (two creates racing).
    if (await this.pools.findByName(tenant, req.name)) throw this.duplicate(req.name);
    const image = await this.pinImage(req.image);
    const id = newId('pool');
    const outcome = await this.pools.create(
      {
        id,
        tenant,
        name: req.name,
        createdAt: new Date().toISOString(),
        image,
        size: req.size,
        template: normaliseTemplate(req.podTemplate),
        nodeSelector: req.nodeSelector ?? {},
      },
      this.limits.of(tenant),
    );
    if (outcome === 'exists') throw this.duplicate(req.name);
    if (typeof outcome === 'object') throw ApiError.overQuota(outcome.refusal);
    this.logger.info({ pool: req.name, tenant, pinned: image.pinned, size: req.size }, 'pool created');
    return this.show(await this.mustGet(id));
  }

  /** The caller's tenant's pools (an operator's: every tenant's). */
  async list(caller: Caller): Promise<PoolResponse[]> {
    const perTenant = await Promise.all(this.scope.tenants(caller).map((tenant) => this.pools.listByTenant(tenant)));
    return Promise.all(perTenant.flat().map((p) => this.show(p)));
  }

  /**
   * The caller's tenant's active pool of that name; an operator without one of its own gets the pool of
   * that name of any tenant (names are per tenant: 409 when several have it).
   */
  async get(caller: Caller, name: string): Promise<PoolResponse> {
    if (caller.role !== 'operator' || !POOL_NAME.test(name)) return this.show(await this.find(caller.tenant, name));
    const own = await this.pools.findByName(caller.tenant, name);
    if (own) return this.show(own);
    const found = (await Promise.all(this.scope.tenants(caller).map((t) => this.pools.findByName(t, name)))).filter((p) => p !== undefined);
    if (found.length > 1) throw new ApiError(409, 'ambiguous', `${found.length} tenants have a pool named "${name}"`);
    if (!found[0]) throw ApiError.notFound('pool');
    return this.show(found[0]);
  }

  /**
   * Resize, and/or re-resolve the image (the same reference, or a new one): a new digest rotates the pool.
   * Re-resolution happens only when asked (`repin`, or a new `image`), never on a timer: a tag moved by
   * mistake must not rotate a pool by itself. A pipeline that pushes a new build re-pins its pools.
   */
  async update(tenant: string, name: string, body: unknown): Promise<PoolResponse> {
    const req = parseBody(patchPoolSchema, body, 'pool change');
    const pool = await this.find(tenant, name);
    const image = req.image !== undefined || req.repin ? await this.pinImage(req.image ?? pool.image.requested) : undefined;
    const change = { ...(req.size !== undefined ? { size: req.size } : {}), ...(image ? { image } : {}) };
    const result = await this.pools.update(pool, change, this.limits.of(tenant));
    if ('kind' in result) throw ApiError.overQuota(result.refusal);
    if (!result.applied) throw ApiError.notFound('pool');
    if (result.rotated) this.logger.info({ pool: name, tenant, from: pool.image.digest, to: image?.digest }, 'pool re-pinned: rotating');
    return this.show(await this.mustGet(pool.id));
  }

  /** Drains: the name is free at once; the controller stops every warm pod, then removes the pool. */
  async drain(tenant: string, name: string): Promise<PoolResponse> {
    const pool = await this.find(tenant, name);
    if (!(await this.pools.drain(pool))) throw ApiError.notFound('pool');
    this.logger.info({ pool: name, tenant }, 'pool draining');
    return this.show(await this.mustGet(pool.id));
  }

  /** The tenant's active pool of that name; another tenant's is "not found". */
  async find(tenant: string, name: string): Promise<PoolRecord> {
    const pool = POOL_NAME.test(name) ? await this.pools.findByName(tenant, name) : undefined;
    if (!pool) throw ApiError.notFound('pool');
    return pool;
  }

  private async pinImage(requested: string): Promise<PoolImage> {
    const image: PinnedImage = await this.pins.resolve(requested);
    await this.layers.record(image);
    const reference = referenceOf(parseImageReference(requested, this.config.defaultRegistry));
    return { requested: image.requested, reference, pinned: image.pinned, digest: image.digest };
  }

  private async mustGet(id: string): Promise<PoolRecord> {
    const pool = await this.pools.get(id);
    if (!pool) throw ApiError.notFound('pool');
    return pool;
  }

  private async show(pool: PoolRecord): Promise<PoolResponse> {
    const [members, stats, retiring] = await Promise.all([
      this.pools.members(pool.id),
      this.pools.stats(pool.id),
      this.pools.retiring(pool.id),
    ]);
    const seen = await Promise.all(members.map((m) => Promise.all([this.pods.get(m.podId), this.pods.isStopRequested(m.podId)])));
    return toPoolResponse(
      pool,
      members.map((member, i) => ({ member, pod: seen[i]![0], stopRequested: seen[i]![1] })),
      stats,
      retiring,
    );
  }

  private duplicate(name: string): ApiError {
    return new ApiError(409, 'pool_exists', `a pool named "${name}" already exists`, [
      { path: 'name', message: 'already used by another pool of this tenant' },
    ]);
  }
}
