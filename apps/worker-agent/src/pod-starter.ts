import { isTerminal, podReadiness, type Endpoint, type PodCheckpointStatus, type PodRecord, type StartMode } from '@warmpod/domain';
import { PermanentJobError } from '@warmpod/jobs';
import type { EnsuredImage, ImageCache, RuncRuntime } from '@warmpod/node-runtime';
import type { Logger } from '@warmpod/observability';
import type { NodeRepository, PodRepository } from '@warmpod/store';
import type { AgentMetrics } from './agent-metrics';
import { CheckpointFetchError } from './checkpoint-artifacts';
import { CheckpointFailedError, type PodCheckpoints, type RestorePlan } from './pod-checkpoints';
import type { PodExitWatcher } from './pod-exit-watcher';
import type { PodLocks } from './pod-locks';
import type { PodReadiness } from './pod-readiness';
import type { LaunchedPod, PodSandboxes, RestoreTools } from './pod-sandbox';
import {
  isStopOnRequest,
  messageOf,
  planStart,
  readinessRestart,
  restoreFailedStatus,
  startEntry,
  startFailure,
  unrestoredMode,
  withCheckpointFailure,
  type CheckpointedStart,
} from './pod-start-plan';
import type { PodTransitions } from './pod-transitions';
import { DrainAbort } from './node-drain';

/** What a start needs of this node's checkpoints. */
export type StartCheckpoints = Pick<
  PodCheckpoints,
  'capable' | 'findRestorable' | 'hold' | 'fetch' | 'take' | 'restored' | 'restoreFailed'
> & {
  readonly restoreTools: RestoreTools;
};

export interface PodStarterDeps {
  nodeId: string;
  pods: Pick<PodRepository, 'get' | 'transition' | 'isStopRequested' | 'annotate'>;
  nodes: Pick<NodeRepository, 'addCachedDigest'>;
  cache: Pick<ImageCache, 'has' | 'ensure' | 'list'>;
  runc: Pick<RuncRuntime, 'waitExit'>;
  sandboxes: Pick<PodSandboxes, 'launch' | 'restore' | 'expose' | 'teardown'>;
  /** Every pod's readiness wait (a checkpointing pod's condition is its readiness). */
  readiness: Pick<PodReadiness, 'waitStarted' | 'confirmRestored'>;
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
    const { cache, sandboxes, checkpoints, transitions } = this.deps;
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
    const checkpointed = checkpoints ? plan.checkpointed : undefined;
    const candidate = checkpointed?.tryRestore ? await checkpoints?.findRestorable(pod) : undefined;
    let status: PodCheckpointStatus = {};
    if (candidate && checkpointed && checkpoints) {
      const failed = await this.restore(pod, image, candidate, checkpointed, checkpoints, signal);
      if (failed === undefined) return;
      status = failed;
    }
    await transitions.advance(pod.id, 'Starting');
    const launched = await this.launchUntilReady(pod, image, signal);
    if (!launched) return;
    const readyAt = new Date().toISOString();
    if (checkpointed && checkpoints) status = await this.checkpoint(pod, checkpoints, status);
    const endpoints = await sandboxes.expose(pod, launched.ip);
    const mode = checkpointed ? unrestoredMode(status) : plan.plainMode;
    await this.running(pod, mode, endpoints, readyAt, checkpointed ? status : undefined);
    if (status.taken) this.deps.reportChange();
  }

  /**
   * Launches the pod with its ports closed and waits for its readiness (none:
   * ready at once). A readiness that never holds is handled by the restart
   * policy: Never fails the pod with the reason; OnFailure and Always start
   * it again here, `restarts` counted, a few times before it fails. A pod
   * that exits before it is ready and is not restarted ends as its exit
   * says (undefined is returned).
   */
  private async launchUntilReady(pod: PodRecord, image: EnsuredImage, signal: AbortSignal): Promise<LaunchedPod | undefined> {
    const { pods, sandboxes, readiness, transitions, reportChange, logger } = this.deps;
    const wanted = podReadiness(pod.spec);
    let restarts = pod.restarts;
    for (let tries = 0; ; tries++) {
      const launched = await sandboxes.launch(pod, image, { expose: false });
      reportChange();
      const notReady = wanted ? await readiness.waitStarted(pod, launched, wanted, signal) : undefined;
      if (!notReady) return launched;
      logger.warn({ reason: notReady.reason, restarts }, 'pod not ready');
      await sandboxes.teardown(pod.id);
      reportChange();
      if (!readinessRestart(pod.spec.restartPolicy, notReady, tries)) {
        if (notReady.kind === 'timeout') throw new PermanentJobError(notReady.reason);
        const phase = notReady.exitCode === 0 ? 'Succeeded' : 'Failed';
        await transitions.finish(pod, phase, { exitCode: notReady.exitCode, ...(phase === 'Failed' ? { error: notReady.reason } : {}) });
        return undefined;
      }
      restarts++;
      await pods.annotate(pod.id, { restarts, message: `started again (${restarts}): ${notReady.reason}` });
    }
  }

  /** Takes the pod's checkpoint now that it is ready (rule 3); a failure is recorded and the pod runs on. */
  private async checkpoint(pod: PodRecord, checkpoints: StartCheckpoints, status: PodCheckpointStatus): Promise<PodCheckpointStatus> {
    try {
      const taken = await checkpoints.take(pod);
      return { ...status, taken: taken.id };
    } catch (error) {
      if (!(error instanceof CheckpointFailedError)) throw error;
      return withCheckpointFailure(status, error.message);
    }
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
      // No eviction removes the files while they are fetched or read (runc restore).
      const release = await checkpoints.hold(candidate.record);
      let launched;
      let fetchMs = 0;
      try {
        // Taken on another node of this runtime: fetched (verified by digest) as part of the restore.
        const source = 'remote' in candidate ? await checkpoints.fetch(candidate.record, signal) : candidate;
        fetchMs = Date.now() - started;
        launched = await sandboxes.restore(pod, image, source, checkpoints.restoreTools, signal);
      } finally {
        release();
      }
      reportChange();
      const restoredAt = Date.now();
      const { attempts: readinessProbes } = await this.deps.readiness.confirmRestored(pod, launched, condition, signal);
      const readyAt = new Date().toISOString();
      const confirmedAt = Date.now();
      // Confirmed: from here on (the client's requests) the pod runs under its quota.
      await launched.limitCpu();
      const endpoints = await sandboxes.expose(pod, launched.ip);
      const exposedAt = Date.now();
      await checkpoints.restored(candidate.record);
      metrics?.restored(started, 'success');
      const recordedAt = Date.now();
      await this.running(pod, 'restored', endpoints, readyAt, { restoredFrom: candidate.record.id });
      // One line per restore: the benchmark's breakdown reads it.
      this.deps.logger.info(
        {
          podId: pod.id,
          fetchMs,
          ...launched.steps,
          readinessMs: confirmedAt - restoredAt,
          readinessProbes,
          exposeMs: exposedAt - confirmedAt,
          recordMs: recordedAt - exposedAt,
          runningMs: Date.now() - recordedAt,
          totalMs: Date.now() - started,
        },
        'pod restore steps',
      );
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

  private async running(
    pod: PodRecord,
    startMode: StartMode,
    endpoints: Endpoint[],
    readyAt: string,
    checkpoint?: PodCheckpointStatus,
  ): Promise<void> {
    const { pods, sandboxes, exits, logger } = this.deps;
    const moved = await pods.transition(pod.id, 'Running', { startMode, endpoints, readyAt, ...(checkpoint ? { checkpoint } : {}) });
    // Found Running already: this write landed and its reply was lost (ioredis resends it after a Redis restart);
    // only this node's start (one per pod, under its lock) moves the pod to Running.
    if (!moved.applied && moved.previous !== 'Running') {
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
