import { Inject, Injectable } from '@nestjs/common';
import { InvalidReferenceError, newId, parseImageReference, type PodRecord, type PodRequest } from '@warmpod/domain';
import type { Logger } from '@warmpod/observability';
import { PodRepository, poolPodDefinition, PoolRepository, type PoolPodDefinition } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { ApiError } from '../http/api-error';
import { CONFIG, LOGGER } from '../providers';
import { GatewayMetrics } from '../metrics/gateway-metrics';
import { bodyHash } from '../pods/idempotency';
import { TenantLimits } from '../quotas/tenant-limits';
import { claimProblems, referenceOf } from './pool-request';

/** A claim either got a warm pod, or names the pod to start the normal way (the pool's template, current digest). */
export type ClaimResult = { kind: 'claimed'; pod: PodRecord; replay: boolean } | { kind: 'fallback'; def: PoolPodDefinition };

export interface ClaimRequest {
  tenant: string;
  body: PodRequest & { pool: string };
  idempotencyKey?: string;
}

/**
 * `POST /v1/pods` with `pool`: hands out a Running warm pod in one Lua step
 * (never the same pod twice; the current digest before an older one), and
 * the pool refills behind it. With none free, the caller starts the pool's
 * template at the pool's current digest: no registry round trip either way.
 */
@Injectable()
export class PoolClaims {
  constructor(
    private readonly pools: PoolRepository,
    private readonly pods: PodRepository,
    @Inject(CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
    private readonly limits: TenantLimits,
  ) {}

  async claim(req: ClaimRequest): Promise<ClaimResult> {
    const started = Date.now();
    const result = await this.claimOnce(req);
    if (!(result.kind === 'claimed' && result.replay)) this.metrics.claimed(started, result.kind === 'claimed' ? 'claimed' : 'fallback');
    return result;
  }

  private async claimOnce(req: ClaimRequest): Promise<ClaimResult> {
    const { body, tenant } = req;
    const problems = claimProblems(body);
    if (problems.length > 0) throw ApiError.invalidRequest('a pod claimed from a pool takes only image and pool', problems);
    const pool = await this.pools.findByName(tenant, body.pool);
    if (!pool) throw new ApiError(404, 'not_found', `pool "${body.pool}" not found`, [{ path: 'pool', message: 'no such pool' }]);
    if (this.reference(body.image) !== pool.image.reference) {
      throw ApiError.invalidRequest("the image is not the pool's", [
        { path: 'image', message: `pool "${pool.name}" runs "${pool.image.requested}"` },
      ]);
    }
    const idempotency = req.idempotencyKey ? { key: req.idempotencyKey, bodyHash: bodyHash(body) } : undefined;
    const outcome = await this.pools.claim(pool, idempotency, this.limits.of(tenant));
    switch (outcome.kind) {
      case 'claimed':
      case 'replay': {
        const pod = await this.pods.get(outcome.podId);
        if (!pod) throw new ApiError(409, 'idempotency_conflict', 'the pod created with this Idempotency-Key no longer exists');
        if (outcome.kind === 'claimed')
          this.logger.info({ podId: pod.id, pool: pool.name, digest: outcome.digest, node: pod.node }, 'warm pod claimed');
        return { kind: 'claimed', pod, replay: outcome.kind === 'replay' };
      }
      case 'conflict':
        throw new ApiError(409, 'idempotency_conflict', 'this Idempotency-Key was already used with a different request body');
      case 'inactive':
        throw new ApiError(404, 'not_found', `pool "${body.pool}" not found`, [{ path: 'pool', message: 'the pool is being deleted' }]);
      case 'over-quota':
        throw ApiError.overQuota(outcome.refusal);
      case 'none':
        this.logger.info({ pool: pool.name, digest: pool.image.digest }, 'no warm pod free: starting one from the pool template');
        return { kind: 'fallback', def: poolPodDefinition(pool, newId('pod')) };
    }
  }

  private reference(image: string): string | undefined {
    try {
      return referenceOf(parseImageReference(image, this.config.defaultRegistry));
    } catch (error) {
      if (error instanceof InvalidReferenceError) {
        throw new ApiError(400, 'invalid_image_reference', error.message, [{ path: 'image', message: error.message }]);
      }
      throw error;
    }
  }
}
