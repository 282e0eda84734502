import { Inject, Injectable } from '@nestjs/common';
import { describeIssues, newId, normaliseSpec, podRequestSchema, type PodRecord, type PodRequest } from '@warmpod/domain';
import { JobBus, SCHEDULING_QUEUE } from '@warmpod/jobs';
import type { Logger } from '@warmpod/observability';
import { PodRepository, type PodDefinition } from '@warmpod/store';
import { ApiError } from '../http/api-error';
import { PoolClaims } from '../pools/pool-claims';
import { LOGGER } from '../providers';
import { GatewayMetrics } from '../metrics/gateway-metrics';
import { bodyHash } from './idempotency';
import { ImageLayersRecorder } from './image-layers';
import { TenantLimits } from '../quotas/tenant-limits';
import { PinResolver } from './pin-resolver';

export interface Admission {
  pod: PodRecord;
  /** True when an earlier request with the same idempotency key made this pod. */
  replay: boolean;
}

export interface AdmissionRequest {
  tenant: string;
  body: unknown;
  idempotencyKey?: string;
  requestId: string;
}

/**
 * Admits a pod: validate, pin, store within the tenant's quotas, enqueue, in
 * that order. Nothing is written before the body is valid and the image
 * pinned, and a request that fails after the write is rolled back, so a
 * rejected request leaves nothing. Every door that admits pods (REST, the
 * queue) comes through here, so each gets the same quota check.
 */
@Injectable()
export class PodAdmission {
  constructor(
    private readonly pins: PinResolver,
    private readonly layers: ImageLayersRecorder,
    private readonly pods: PodRepository,
    private readonly jobs: JobBus,
    private readonly pools: PoolClaims,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
    private readonly limits: TenantLimits,
  ) {}

  async admit(req: AdmissionRequest): Promise<Admission> {
    const started = Date.now();
    try {
      const admission = await this.admitOnce(req);
      const outcome = admission.replay ? 'replay' : admission.pod.startMode === 'warm-pool' ? 'claimed' : 'admitted';
      this.metrics.admitted(started, outcome);
      return admission;
    } catch (error) {
      this.metrics.admitted(started, 'rejected');
      throw error;
    }
  }

  private async admitOnce(req: AdmissionRequest): Promise<Admission> {
    const parsed = podRequestSchema.safeParse(req.body);
    if (!parsed.success) throw ApiError.invalidRequest('the pod request is not valid', describeIssues(parsed.error));
    const body = parsed.data;
    // A pool claim hands out a warm pod, or falls through with the pool's template to a normal start.
    const claim = body.pool === undefined ? undefined : await this.pools.claim({ ...req, body: { ...body, pool: body.pool } });
    if (claim?.kind === 'claimed') return { pod: claim.pod, replay: claim.replay };
    const def = claim?.def ?? (await this.definition(req.tenant, body));
    const idempotency = req.idempotencyKey ? { key: req.idempotencyKey, bodyHash: bodyHash(body) } : undefined;
    // Charged to the tenant's quotas in the same step that stores it: concurrent requests cannot overshoot.
    const outcome = await this.pods.create(def, idempotency, this.limits.of(req.tenant));
    if (outcome.kind === 'over-quota') throw ApiError.overQuota(outcome.refusal);

    if (outcome.kind === 'conflict') {
      throw new ApiError(409, 'idempotency_conflict', 'this Idempotency-Key was already used with a different request body');
    }
    if (outcome.kind === 'replay') {
      const pod = await this.pods.get(outcome.podId);
      if (!pod) throw new ApiError(409, 'idempotency_conflict', 'the pod created with this Idempotency-Key no longer exists');
      // The first request may have died between storing the pod and queueing it (a gateway killed mid-admission):
      // queue it again. Safe: the job id dedupes a queued one, and the scheduler leaves a pod that is not Pending alone.
      if (pod.phase === 'Pending') {
        const generation = pod.restarts > 0 ? { generation: pod.restarts } : {};
        await this.jobs.toScheduler({ name: 'schedule-pod', data: { podId: pod.id, requestId: req.requestId, ...generation } });
      }
      return { pod, replay: true };
    }

    await this.enqueueOrRollBack(def, req.requestId, req.idempotencyKey);
    this.logger.info(
      { podId: def.id, tenant: def.tenant, pinned: def.image.pinned, ...(claim ? { pool: body.pool } : {}) },
      'pod admitted',
    );
    return { pod: (await this.pods.get(def.id)) ?? pendingRecord(def), replay: false };
  }

  private async definition(tenant: string, body: PodRequest): Promise<PodDefinition> {
    const image = await this.pins.resolve(body.image);
    await this.layers.record(image);
    return {
      id: newId('pod'),
      tenant,
      createdAt: new Date().toISOString(),
      labels: body.labels ?? {},
      image: { requested: image.requested, pinned: image.pinned, digest: image.digest },
      spec: normaliseSpec(body),
    };
  }

  private async enqueueOrRollBack(def: PodDefinition, requestId: string, idempotencyKey?: string): Promise<void> {
    const job = { name: 'schedule-pod', data: { podId: def.id, requestId } } as const;
    try {
      await this.jobs.toScheduler(job);
    } catch (error) {
      this.logger.error({ podId: def.id, err: error }, 'could not enqueue schedule-pod; rolling the pod back');
      await this.jobs.withdraw(SCHEDULING_QUEUE, job).catch(() => undefined);
      await this.pods
        .remove(def, idempotencyKey)
        .catch((rollback: unknown) => this.logger.error({ podId: def.id, err: rollback }, 'rollback of an unqueued pod failed'));
      throw new ApiError(503, 'queue_unavailable', 'the pod could not be queued for scheduling; nothing was stored, retry later');
    }
  }
}

/** The record as created, for the rare case it cannot be read back at once. */
function pendingRecord(def: PodDefinition): PodRecord {
  return { ...def, phase: 'Pending', timeline: { Pending: def.createdAt }, endpoints: [], restarts: 0 };
}
