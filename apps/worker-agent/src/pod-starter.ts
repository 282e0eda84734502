import { isTerminal, type Endpoint, type PodCheckpointStatus, type PodRecord, type StartMode } from '@warmpod/domain';
import { PermanentJobError } from '@warmpod/jobs';
import type { EnsuredImage, ImageCache, RuncRuntime } from '@warmpod/node-runtime';
import type { Logger } from '@warmpod/observability';
import type { NodeRepository, PodRepository } from '@warmpod/store';
import type { AgentMetrics } from './agent-metrics';
import { CheckpointFetchError } from './checkpoint-artifacts';
import { CheckpointFailedError, type PodCheckpoints, type RestorePlan } from './pod-checkpoints';
import type { PodExitWatcher } from './pod-exit-watcher';
import type { PodLocks } from './pod-locks';
import type { PodSandboxes, RestoreTools } from './pod-sandbox';
import {
  isStopOnRequest,
  messageOf,
  planStart,
  restoreFailedStatus,
  startEntry,
  startFailure,
  unrestoredMode,
  withCheckpointFailure,
  type CheckpointedStart,
} from './pod-start-plan';
import type { PodTransitions } from './pod-transitions';
import { DrainAbort } from './node-drain';

/** How long a restored pod has to pass its condition before the restore counts as failed. */
const RESTORED_READY_MS = 30_000;

/** What a start needs of this node's checkpoints. */
export type StartCheckpoints = Pick<
  PodCheckpoints,
  'capable' | 'findRestorable' | 'fetch' | 'waitReady' | 'take' | 'restored' | 'restoreFailed'
> & {
  readonly restoreTools: RestoreTools;
};

export interface PodStarterDeps {
  nodeId: string;
  pods: Pick<PodRepository, 'get' | 'transition' | 'isStopRequested'>;
  nodes: Pick<NodeRepository, 'addCachedDigest'>;
  cache: Pick<ImageCache, 'has' | 'ensure' | 'list'>;
  runc: Pick<RuncRuntime, 'waitExit'>;
  sandboxes: Pick<PodSandboxes, 'launch' | 'restore' | 'expose' | 'teardown'>;
  /** Undefined: this node cannot checkpoint. */
  checkpoints: StartCheckpoints | undefined;
  locks: PodLocks;
  transitions: PodTransitions;
  exits: Pick<PodExitWatcher, 'watch'>;
  /** Something the node reports changed (image cached, container started or gone, checkpoint taken). */
  reportChange: () => void;
  logger: Logger;
  /** Start, pull and restore metrics; absent in tests that do not look at them. */
  metrics?: Pick<AgentMetrics, 'podRunning' | 'pulled' | 'restored'>;
}

/**
 * Starts pods: pull if needed, then restore, fall back, or start (and
 * checkpoint) as `planStart` decides. Every start re-reads the pod record and
 * exits early when there is nothing to do, so a job delivered twice never
 * starts a second container.
 */
export class PodStarter {
  /** Starts under way: a stop aborts them instead of waiting behind a restore or a readiness wait. */
  private readonly starting = new Map<string, AbortController>();

  constructor(private readonly deps: PodStarterDeps) {}

  /** `attempt` > 1 means an earlier try may have left parts behind. */
  async start(podId: string, attempt = 1): Promise<void> {
    const abort = new AbortController();
    this.starting.set(podId, abort);
    try {
      await this.deps.locks.with(podId, () => this.startLocked(podId, attempt, abort.signal));
    } finally {
      if (this.starting.get(podId) === abort) this.starting.delete(podId);
    }
  }

  /** A stop: the start under way (if any) gives up at its next step and the pod ends Stopped. */
  abort(podId: string, reason: Error): void {
    this.starting.get(podId)?.abort(reason);
  }

  /** Marks a pod failed after its start job gave up (retries exhausted). */
  async giveUp(podId: string, error: Error): Promise<void> {
    const { pods, sandboxes, locks, transitions } = this.deps;
    await locks.with(podId, async () => {
      const pod = await pods.get(podId);
      if (!pod || isTerminal(pod.phase)) return;
      await sandboxes.teardown(podId).catch(() => undefined);
      await transitions.finish(pod, 'Failed', { error: error.message });
    });
  }

  private async startLocked(podId: string, attempt: number, signal: AbortSignal): Promise<void> {
    const { nodeId, pods, sandboxes, transitions, logger } = this.deps;
    const pod = await pods.get(podId);
    const entry = startEntry(pod, nodeId);
    if (entry.kind === 'misplaced') throw new PermanentJobError(entry.reason);
    if (entry.kind === 'nothing' || !pod) return;
    if (await pods.isStopRequested(podId)) {
      await transitions.finish(pod, 'Stopped', {});
      return;
    }
    try {
      await this.run(pod, attempt, signal);
    } catch (error) {
      await sandboxes.teardown(podId).catch(() => undefined);
      const failure = startFailure(error, signal);
      // A draining node cut the start short: the drainer, next under this lock, moves or stops the pod by its policy.
      if (failure === 'stopped' && signal.reason instanceof DrainAbort) return;
      if (failure === 'stopped') {
        await transitions.finish(pod, 'Stopped', {});
        logger.info('start stopped on request');
        return;
      }
      if (failure === 'failed') {
        await transitions.finish(pod, 'Failed', { error: messageOf(error) });
        throw new PermanentJobError(messageOf(error));
      }
      throw error;
    }
  }

  private async run(pod: PodRecord, attempt: number, signal: AbortSignal): Promise<void> {
    const { cache, sandboxes, checkpoints, transitions, reportChange } = this.deps;
    const plan = planStart({ pod, attempt, cached: await cache.has(pod.image.digest), canCheckpoint: checkpoints?.capable ?? false });
    if (plan.pull) await transitions.advance(pod.id, 'Pulling');
    const pullStarted = Date.now();
    const image = await cache.ensure(pod.image.pinned).catch((error: unknown) => {
      if (plan.pull) this.deps.metrics?.pulled('pod', pullStarted, 'failure');
      throw error;
    });
    if (plan.pull) this.deps.metrics?.pulled('pod', pullStarted, 'success', image.bytesFetched);
    if (plan.pull) await this.recordCached(image);
    if (plan.clearLeftovers) await sandboxes.teardown(pod.id);
    if (!plan.checkpointed || !checkpoints) {
      await transitions.advance(pod.id, 'Starting');
      const { endpoints } = await sandboxes.launch(pod, image);
      reportChange();
      await this.running(pod, plan.plainMode, endpoints);
      return;
    }
    const candidate = plan.checkpointed.tryRestore ? await checkpoints.findRestorable(pod) : undefined;
    let status: PodCheckpointStatus = {};
    if (candidate) {
      const failed = await this.restore(pod, image, candidate, plan.checkpointed, checkpoints, signal);
      if (failed === undefined) return;
      status = failed;
    }
    await transitions.advance(pod.id, 'Starting');
    await this.startThenCheckpoint(pod, image, plan.checkpointed, checkpoints, signal, status);
  }

  /** New on this node: recorded now so placement sees it before the next inventory delta. */
  private async recordCached(image: EnsuredImage): Promise<void> {
    const { nodeId, nodes, cache, reportChange } = this.deps;
    const entry = (await cache.list()).find((c) => c.digest === image.digest);
    await nodes.addCachedDigest(nodeId, image.digest, entry?.sizeBytes ?? image.bytesFetched, entry?.layers ?? []);
    reportChange();
  }

  /**
   * Restore, confirm readiness (several probes, not one), expose, Running.
   * Returns undefined on success, or the pod's checkpoint status after a
   * failure: the checkpoint has the failure counted, everything of the
   * attempt is gone, and the caller falls back to a normal start in this same
   * job. A stop rethrows.
   */
  private async restore(
    pod: PodRecord,
    image: EnsuredImage,
    candidate: RestorePlan,
    { condition }: CheckpointedStart,
    checkpoints: StartCheckpoints,
    signal: AbortSignal,
  ): Promise<PodCheckpointStatus | undefined> {
    const { sandboxes, transitions, reportChange, metrics } = this.deps;
    await transitions.advance(pod.id, 'Restoring');
    const started = Date.now();
    try {
      // Taken on another node of this runtime: fetched (verified by digest) as part of the restore.
      const source = 'remote' in candidate ? await checkpoints.fetch(candidate.record, signal) : candidate;
      const launched = await sandboxes.restore(pod, image, source, checkpoints.restoreTools, signal);
      reportChange();
      await checkpoints.waitReady(pod, launched, condition, Date.now() + RESTORED_READY_MS, { restored: true, signal });
      const endpoints = await sandboxes.expose(pod, launched.ip);
      await checkpoints.restored(candidate.record);
      metrics?.restored(started, 'success');
      await this.running(pod, 'restored', endpoints, { restoredFrom: candidate.record.id });
      return undefined;
    } catch (error) {
      await sandboxes.teardown(pod.id).catch(() => undefined);
      if (isStopOnRequest(error, signal)) throw error;
      metrics?.restored(started, 'failure');
      const status = restoreFailedStatus(candidate.record.id, error);
      // A registry that is down or a full disk says nothing about the checkpoint: only this start falls back.
      if (!(error instanceof CheckpointFetchError) || error.damaged) await checkpoints.restoreFailed(candidate.record, status.error);
      else this.deps.logger.warn({ checkpointId: candidate.record.id, err: messageOf(error) }, 'checkpoint not fetched; starting normally');
      reportChange();
      return status;
    }
  }

  /**
   * A normal start whose ports stay closed until the pod's condition holds
   * and its checkpoint is taken (rule 3). A condition that never holds or a
   * checkpoint that fails is recorded; the pod is exposed and runs anyway.
   * A pod that exits meanwhile ends the wait at once; its exit watch records how it ended.
   */
  private async startThenCheckpoint(
    pod: PodRecord,
    image: EnsuredImage,
    { condition, timeoutSeconds }: CheckpointedStart,
    checkpoints: StartCheckpoints,
    signal: AbortSignal,
    status: PodCheckpointStatus,
  ): Promise<void> {
    const { runc, sandboxes, reportChange } = this.deps;
    const launched = await sandboxes.launch(pod, image, { expose: false });
    reportChange();
    const waiting = new AbortController();
    const stopWaiting = AbortSignal.any([signal, waiting.signal]);
    void runc.waitExit(pod.id, { signal: stopWaiting }).then(
      (code) => waiting.abort(new Error(`the pod exited with ${code} before its condition held`)),
      () => undefined,
    );
    const deadline = Date.now() + timeoutSeconds * 1000;
    let outcome: PodCheckpointStatus = { ...status };
    try {
      const taken = await checkpoints.take(pod, {
        ready: () =>
          checkpoints.waitReady(pod, launched, condition, deadline, { restored: false, signal: stopWaiting }).catch((error: unknown) => {
            if (signal.aborted) throw error;
            throw new Error(`condition ${condition.type} not met within ${timeoutSeconds} s: ${messageOf(error)}`);
          }),
      });
      outcome.taken = taken.id;
    } catch (error) {
      if (signal.aborted) throw error;
      if (!(error instanceof CheckpointFailedError)) throw error;
      outcome = withCheckpointFailure(status, error.message);
    } finally {
      waiting.abort();
    }
    const endpoints = await sandboxes.expose(pod, launched.ip);
    await this.running(pod, unrestoredMode(status), endpoints, outcome);
    if (outcome.taken) reportChange();
  }

  private async running(pod: PodRecord, startMode: StartMode, endpoints: Endpoint[], checkpoint?: PodCheckpointStatus): Promise<void> {
    const { pods, sandboxes, exits, logger } = this.deps;
    const moved = await pods.transition(pod.id, 'Running', { startMode, endpoints, ...(checkpoint ? { checkpoint } : {}) });
    if (!moved.applied) {
      logger.info({ phase: moved.previous }, 'pod changed phase while starting; tearing down');
      await sandboxes.teardown(pod.id);
      return;
    }
    logger.info({ endpoints: endpoints.length, startMode }, 'pod running');
    exits.watch(pod.id);
    if (this.deps.metrics) void this.observeStart(pod.id, startMode, this.deps.metrics);
  }

  /** The start's segments from the timeline the store now holds; off the start path, and never failing it. */
  private async observeStart(podId: string, startMode: StartMode, metrics: Pick<AgentMetrics, 'podRunning'>): Promise<void> {
    try {
      const pod = await this.deps.pods.get(podId);
      if (pod) metrics.podRunning(pod, startMode);
    } catch (error) {
      this.deps.logger.warn({ err: messageOf(error) }, 'pod start not measured');
    }
  }
}
