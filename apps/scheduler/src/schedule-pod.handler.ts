import {
  checkpointSpecKey,
  CRIU_CAPABILITY,
  effectiveCheckpointing,
  type CheckpointClusterFacts,
  isTerminal,
  rejectionSummary,
  type EffectiveCheckpointing,
  type ImageLayer,
  type PlacementRanking,
  type PodPlacementRequest,
  type PodRecord,
} from '@warmpod/domain';
import type { JobBus, JobData, JobHandler, PodRef } from '@warmpod/jobs';
import type { Logger } from '@warmpod/observability';
import type { CheckpointRepository, ImageRepository, NodeReservations, PodRepository, PrepullHints } from '@warmpod/store';
import type { Backlog } from './backlog';
import type { PlacementView } from './placement-view';
import type { SchedulerMetrics } from './scheduler-metrics';

/** Thrown to make BullMQ retry later: nothing fits now. */
export class NoFitError extends Error {
  override readonly name = 'NoFitError';
}

export interface SchedulerPorts {
  pods: PodRepository;
  reservations: Pick<NodeReservations, 'release'>;
  bus: JobBus;
  backlog: Backlog;
  hints: PrepullHints;
  view: PlacementView;
  images: ImageRepository;
  /** Pushed checkpoints a node of the same runtime could fetch; absent: only checkpoints on nodes count. */
  checkpoints?: Pick<CheckpointRepository, 'artifactsOf'>;
}

const LAYER_CACHE = 10_000;

/** The operator's checkpoint policy for a tenant; absent from the facts means allowed. */
export type CheckpointPolicy = (tenant: string) => CheckpointClusterFacts['policy'];

/** Tenants listed by the operator (CHECKPOINT_OFF_TENANTS) never have their pods checkpointed. */
export function checkpointPolicy(offTenants: readonly string[]): CheckpointPolicy {
  const off = new Set(offTenants);
  return (tenant) => (off.has(tenant) ? { allowed: false, reason: `the operator turned it off for tenant ${tenant}` } : undefined);
}

/**
 * Places one Pending pod. Safe to run twice: a pod already Scheduled only
 * has its start job (deduplicated by id) re-sent, anything later is left alone.
 */
export class SchedulePodHandler implements JobHandler<'schedule-pod'> {
  /** digest -> layers; content behind a digest never changes, so caching it is safe. */
  private readonly layers = new Map<string, readonly ImageLayer[]>();

  constructor(
    private readonly ports: SchedulerPorts,
    private readonly logger: Logger,
    private readonly policy: CheckpointPolicy = () => undefined,
    private readonly metrics?: Pick<SchedulerMetrics, 'placed' | 'cacheResult'>,
  ) {}

  async run({ podId, requestId }: JobData<'schedule-pod'>, meta: { jobId: string }): Promise<void> {
    const { pods, bus, backlog } = this.ports;
    const pod = await pods.get(podId);
    if (!pod || pod.phase !== 'Pending') {
      await backlog.remove(podId);
      if (pod?.phase === 'Scheduled' && pod.node) {
        await bus.toNode(pod.node, startJob(pod, requestId));
      }
      return;
    }
    const started = Date.now();
    let measured = false;
    try {
      const node = await this.place(pod);
      this.metrics?.placed(started, node ? 'scheduled' : 'abandoned');
      measured = true;
      await backlog.remove(podId);
      if (node) await bus.toNode(node, startJob(pod, requestId));
    } catch (error) {
      if (!measured) this.metrics?.placed(started, error instanceof NoFitError ? 'no_fit' : 'error');
      // Waiting for room: the backlog promotes this job when capacity frees up.
      if (error instanceof NoFitError) await backlog.add(podId, meta.jobId);
      throw error;
    }
  }

  private async place(pod: PodRecord): Promise<string | undefined> {
    const { pods, reservations, hints, view } = this.ports;
    const { ranking, checkpointing } = this.plan(pod, await this.layersOf(pod.image.digest), await this.fetchableOf(pod));
    if (!ranking.candidates.some((c) => c.bytesToFetch === 0)) await hints.hint(pod.image.pinned);
    for (const candidate of ranking.candidates) {
      // The view may lag; the reservation is the real, atomic check.
      if (!(await view.reserve(candidate.node, pod.id, pod.spec.resources))) continue;
      const placement = { node: candidate.node, why: candidate.why, candidates: ranking.feasible, bytesToFetch: candidate.bytesToFetch };
      const moved = await pods.transition(pod.id, 'Scheduled', { node: candidate.node, placement, message: null, checkpointing });
      if (!moved.applied) {
        // Stopped or gone meanwhile: give the capacity back. But if another run of
        // this job placed it on this very node, the reservation is that run's.
        const now = await pods.get(pod.id);
        if (!now || isTerminal(now.phase) || now.node !== candidate.node) await reservations.release(candidate.node, pod.id);
        this.logger.info({ phase: moved.previous ?? 'deleted' }, 'pod left Pending during placement');
        return undefined;
      }
      this.logger.info(
        { node: candidate.node, why: candidate.why, feasible: ranking.feasible, bytesToFetch: candidate.bytesToFetch },
        'pod scheduled',
      );
      this.metrics?.cacheResult(candidate.bytesToFetch === 0 ? 'hit' : 'miss');
      return candidate.node;
    }
    const reason =
      ranking.candidates.length > 0
        ? 'all fitting nodes filled up during placement'
        : `no node fits: ${rejectionSummary(ranking) || 'no nodes registered'}`;
    await pods.annotate(pod.id, { message: reason });
    throw new NoFitError(reason);
  }

  /**
   * Ranks the nodes and decides checkpointing, once, before dispatch. A pod
   * that asks for it and can have it goes only to CRIU-capable nodes, where a
   * node holding a compatible checkpoint ranks first. When no CRIU node fits
   * now, checkpointing is off with that reason and the pod starts anywhere:
   * a checkpoint is worth having, but not worth waiting for.
   */
  private plan(
    pod: PodRecord,
    layers: readonly ImageLayer[],
    fetchableCheckpoints: PodPlacementRequest['fetchableCheckpoints'] = [],
  ): { ranking: PlacementRanking; checkpointing: EffectiveCheckpointing } {
    const request = { digest: pod.image.digest, layers, resources: pod.spec.resources, nodeSelector: pod.spec.nodeSelector };
    const wanted = pod.spec.checkpoint;
    const policy = this.policy(pod.tenant);
    const facts = (criuCapableNodes: number): CheckpointClusterFacts => ({ criuCapableNodes, ...(policy ? { policy } : {}) });
    const asked = effectiveCheckpointing(wanted, pod.spec.resources, facts(Number.MAX_SAFE_INTEGER));
    // Off before the cluster is asked (not requested, policy, GPUs): plan as for any pod.
    if (!asked.enabled) return { ranking: this.ports.view.plan(request), checkpointing: asked };
    const checkpointKey = checkpointSpecKey({ tenant: pod.tenant, digest: pod.image.digest, spec: pod.spec });
    const criu = this.ports.view.plan({ ...request, requireCapability: CRIU_CAPABILITY, checkpointKey, fetchableCheckpoints });
    const checkpointing = effectiveCheckpointing(wanted, pod.spec.resources, facts(criu.feasible));
    return { ranking: checkpointing.enabled ? criu : this.ports.view.plan(request), checkpointing };
  }

  /** The pod's pushed checkpoints, by runtime and size: nodes of those runtimes rank next after nodes holding one. */
  private async fetchableOf(pod: PodRecord): Promise<PodPlacementRequest['fetchableCheckpoints']> {
    if (!pod.spec.checkpoint?.enabled || !this.ports.checkpoints) return [];
    const specKey = checkpointSpecKey({ tenant: pod.tenant, digest: pod.image.digest, spec: pod.spec });
    const records = await this.ports.checkpoints.artifactsOf(specKey).catch((error: unknown) => {
      this.logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        'pushed checkpoints not read; ranking without them',
      );
      return [];
    });
    return records.map((r) => ({ runtime: r.runtime, sizeBytes: r.artifactBytes ?? r.sizeBytes }));
  }

  private async layersOf(digest: string): Promise<readonly ImageLayer[]> {
    const cached = this.layers.get(digest);
    if (cached) return cached;
    const image = await this.ports.images.get(digest);
    if (!image) return []; // recorded at admission when the registry answered; else digest-only scoring
    if (this.layers.size >= LAYER_CACHE) this.layers.clear();
    this.layers.set(digest, image.layers);
    return image.layers;
  }

  async onGiveUp({ podId }: PodRef, error: Error): Promise<void> {
    await this.ports.backlog.remove(podId);
    const pod = await this.ports.pods.get(podId);
    await this.ports.pods.transition(podId, 'Failed', { error: `unschedulable: ${error.message}` }, pod?.node);
  }
}

/** A pod placed again after losing its node gets a new start job, not a duplicate of the old one. */
function startJob(pod: PodRecord, requestId: string) {
  return { name: 'start-pod' as const, data: { podId: pod.id, requestId, ...(pod.restarts > 0 ? { generation: pod.restarts } : {}) } };
}
