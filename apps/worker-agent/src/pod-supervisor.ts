import { isTerminal, type Endpoint, type PodCheckpointStatus, type PodPhase, type PodRecord, type StartMode } from '@warmpod/domain';
import { PermanentJobError } from '@warmpod/jobs';
import { NodeRuntimeError, RestoreAbortedError, type EnsuredImage } from '@warmpod/node-runtime';
import type { Logger } from '@warmpod/observability';
import { RegistryError } from '@warmpod/registry';
import type { NodeRepository, PodRepository } from '@warmpod/store';
import { CheckpointFailedError, type PodCheckpoints, type RestoreCandidate } from './pod-checkpoints';
import type { PodLocks } from './pod-locks';
import type { NodeRuntime, PodSandboxes } from './pod-sandbox';

/** How long a restored pod has to pass its condition before the restore counts as failed. */
const RESTORED_READY_MS = 30_000;

/**
 * A pod's life on this node: pull, start, watch, stop. Every entry point
 * re-reads the pod record and exits early when there is nothing to do, so a
 * job delivered twice never starts a second container.
 */
export class PodSupervisor {
  private readonly stopping = new Set<string>();
  /** Starts under way: a stop aborts them instead of waiting behind a restore or a readiness wait. */
  private readonly starting = new Map<string, AbortController>();

  constructor(
    private readonly nodeId: string,
    private readonly pods: PodRepository,
    private readonly nodes: NodeRepository,
    private readonly rt: NodeRuntime,
    private readonly sandboxes: PodSandboxes,
    private readonly locks: PodLocks,
    private readonly stopGraceMs: number,
    private readonly logger: Logger,
    /** Something the node reports changed (image cached, container started or gone). */
    private readonly onInventoryChange: () => void = () => undefined,
    private readonly checkpoints?: PodCheckpoints,
  ) {}

  /** `attempt` > 1 means an earlier try may have left parts behind. */
  async start(podId: string, attempt = 1): Promise<void> {
    const abort = new AbortController();
    this.starting.set(podId, abort);
    try {
      await this.locks.with(podId, () => this.startLocked(podId, attempt, abort.signal));
    } finally {
      if (this.starting.get(podId) === abort) this.starting.delete(podId);
    }
  }

  stop(podId: string): Promise<void> {
    this.starting.get(podId)?.abort(new Error('stopped on request'));
    return this.locks.with(podId, () => this.stopLocked(podId));
  }

  private async startLocked(podId: string, attempt: number, signal: AbortSignal): Promise<void> {
    const pod = await this.pods.get(podId);
    if (!pod || isTerminal(pod.phase) || pod.phase === 'Running') return;
    if (pod.node !== this.nodeId) throw new PermanentJobError(`pod ${podId} is placed on ${pod.node ?? 'no node'}, not ${this.nodeId}`);
    if (await this.pods.isStopRequested(podId)) {
      await this.finish(pod, 'Stopped', {});
      return;
    }
    try {
      await this.run(pod, attempt > 1 || pod.phase === 'Starting' || pod.phase === 'Restoring', signal);
    } catch (error) {
      await this.sandboxes.teardown(podId).catch(() => undefined);
      // A user's stop during a restore or a readiness wait: the pod is stopped, nothing failed.
      if (signal.aborted || error instanceof RestoreAbortedError) {
        await this.finish(pod, 'Stopped', {});
        this.logger.info('start stopped on request');
        return;
      }
      if (isPermanent(error)) {
        await this.finish(pod, 'Failed', { error: (error as Error).message });
        throw new PermanentJobError((error as Error).message);
      }
      throw error;
    }
  }

  private async run(pod: PodRecord, mayHaveLeftovers: boolean, signal: AbortSignal): Promise<void> {
    const alreadyCached = await this.rt.cache.has(pod.image.digest);
    if (!alreadyCached) await this.advance(pod.id, 'Pulling');
    const image = await this.rt.cache.ensure(pod.image.pinned);
    if (!alreadyCached) {
      // New on this node: record it now so placement sees it before the next inventory delta.
      const entry = (await this.rt.cache.list()).find((c) => c.digest === image.digest);
      await this.nodes.addCachedDigest(this.nodeId, image.digest, entry?.sizeBytes ?? image.bytesFetched, entry?.layers ?? []);
      this.onInventoryChange();
    }
    // Only a retried start can find parts of an earlier attempt; a fresh one skips the cost.
    if (mayHaveLeftovers) await this.sandboxes.teardown(pod.id);
    const checkpoints =
      pod.checkpointing?.enabled && pod.spec.checkpoint?.condition && this.checkpoints?.capable ? this.checkpoints : undefined;
    if (!checkpoints) {
      await this.advance(pod.id, 'Starting');
      const { endpoints } = await this.sandboxes.launch(pod, image);
      this.onInventoryChange();
      await this.running(pod, alreadyCached ? 'warm-cache' : 'cold', endpoints);
      return;
    }
    // A retried job that finds the pod Starting already fell back (or never restored): it starts normally.
    const candidate = pod.phase === 'Starting' ? undefined : await checkpoints.findRestorable(pod);
    let restoreError: string | undefined;
    if (candidate) {
      restoreError = await this.restore(pod, image, candidate, checkpoints, signal);
      if (restoreError === undefined) return;
    }
    await this.advance(pod.id, 'Starting');
    await this.startThenCheckpoint(
      pod,
      image,
      checkpoints,
      signal,
      candidate && restoreError ? { restoredFrom: candidate.record.id, error: restoreError } : {},
    );
  }

  /**
   * Restore, confirm readiness (several probes, not one), expose, Running.
   * Returns undefined on success, or why it failed: the checkpoint has the
   * failure counted, everything of the attempt is gone, and the caller falls
   * back to a normal start in this same job. A stop rethrows.
   */
  private async restore(
    pod: PodRecord,
    image: EnsuredImage,
    candidate: RestoreCandidate,
    checkpoints: PodCheckpoints,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const condition = pod.spec.checkpoint?.condition;
    if (!condition) return 'no readiness condition';
    await this.advance(pod.id, 'Restoring');
    try {
      const launched = await this.sandboxes.restore(pod, image, candidate, checkpoints.restoreTools, signal);
      this.onInventoryChange();
      await checkpoints.waitReady(pod, launched, condition, Date.now() + RESTORED_READY_MS, { restored: true, signal });
      const endpoints = await this.sandboxes.expose(pod, launched.ip);
      await checkpoints.restored(candidate.record);
      await this.running(pod, 'restored', endpoints, { restoredFrom: candidate.record.id });
      return undefined;
    } catch (error) {
      await this.sandboxes.teardown(pod.id).catch(() => undefined);
      if (signal.aborted || error instanceof RestoreAbortedError) throw error;
      const reason = `restore from ${candidate.record.id} failed: ${(error as Error).message}`;
      await checkpoints.restoreFailed(candidate.record, reason);
      this.onInventoryChange();
      return reason;
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
    checkpoints: PodCheckpoints,
    signal: AbortSignal,
    status: PodCheckpointStatus,
  ): Promise<void> {
    const spec = pod.spec.checkpoint;
    if (!spec?.condition) throw new PermanentJobError('checkpointing is on but the pod has no condition');
    const { condition, timeoutSeconds } = spec;
    const launched = await this.sandboxes.launch(pod, image, { expose: false });
    this.onInventoryChange();
    const waiting = new AbortController();
    const stopWaiting = AbortSignal.any([signal, waiting.signal]);
    void this.rt.runc.waitExit(pod.id, { signal: stopWaiting }).then(
      (code) => waiting.abort(new Error(`the pod exited with ${code} before its condition held`)),
      () => undefined,
    );
    const deadline = Date.now() + timeoutSeconds * 1000;
    const outcome: PodCheckpointStatus = { ...status };
    try {
      const taken = await checkpoints.take(pod, {
        ready: () =>
          checkpoints.waitReady(pod, launched, condition, deadline, { restored: false, signal: stopWaiting }).catch((error: unknown) => {
            if (signal.aborted) throw error;
            throw new Error(`condition ${condition.type} not met within ${timeoutSeconds} s: ${(error as Error).message}`);
          }),
      });
      outcome.taken = taken.id;
    } catch (error) {
      if (signal.aborted) throw error;
      if (!(error instanceof CheckpointFailedError)) throw error;
      outcome.error = [status.error, `checkpoint failed: ${error.message}`].filter(Boolean).join('; ');
    } finally {
      waiting.abort();
    }
    const endpoints = await this.sandboxes.expose(pod, launched.ip);
    await this.running(pod, status.restoredFrom ? 'fallback' : 'cold', endpoints, outcome);
    if (outcome.taken) this.onInventoryChange();
  }

  private async running(pod: PodRecord, startMode: StartMode, endpoints: Endpoint[], checkpoint?: PodCheckpointStatus): Promise<void> {
    const moved = await this.pods.transition(pod.id, 'Running', { startMode, endpoints, ...(checkpoint ? { checkpoint } : {}) });
    if (!moved.applied) {
      this.logger.info({ phase: moved.previous }, 'pod changed phase while starting; tearing down');
      await this.sandboxes.teardown(pod.id);
      return;
    }
    this.logger.info({ endpoints: endpoints.length, startMode }, 'pod running');
    this.watch(pod.id);
  }

  /** The checkpoint-pod job: a checkpoint of a Running pod on demand, leaving it running. */
  async checkpointNow(podId: string, checkpointId: string): Promise<void> {
    await this.locks.with(podId, async () => {
      const pod = await this.pods.get(podId);
      const refuse = async (reason: string): Promise<never> => {
        await this.checkpoints?.refuse(checkpointId, reason);
        throw new PermanentJobError(reason);
      };
      if (!this.checkpoints?.capable) return refuse(`node ${this.nodeId} cannot checkpoint: criu check failed`);
      if (!pod || pod.phase !== 'Running' || pod.node !== this.nodeId) return refuse(`pod ${podId} is not running on ${this.nodeId}`);
      try {
        const taken = await this.checkpoints.take(pod, { checkpointId });
        await this.pods.annotate(podId, { checkpoint: { ...pod.checkpoint, taken: taken.id } });
        this.onInventoryChange();
      } catch (error) {
        if (error instanceof CheckpointFailedError) throw new PermanentJobError(error.message);
        throw error;
      }
    });
  }

  /** Moves forward, tolerating a retry that finds the pod already there. */
  private async advance(podId: string, to: PodPhase): Promise<void> {
    const moved = await this.pods.transition(podId, to);
    if (!moved.applied && moved.previous !== to) {
      throw new PermanentJobError(`pod ${podId} cannot move from ${moved.previous ?? 'deleted'} to ${to}`);
    }
  }

  /** Follows the container until it exits, then records how it ended. */
  watch(podId: string): void {
    this.rt.runc
      .waitExit(podId)
      .then((code) => this.locks.with(podId, () => this.onExit(podId, code)))
      .catch((error: unknown) => this.logger.error({ podId, err: (error as Error).message }, 'exit watch failed'));
  }

  private async onExit(podId: string, exitCode: number): Promise<void> {
    if (this.stopping.has(podId)) return;
    const pod = await this.pods.get(podId);
    // A pod placed on another node meanwhile is that node's to report on.
    if (!pod || isTerminal(pod.phase) || pod.node !== this.nodeId) return;
    await this.sandboxes.teardown(podId);
    const stopped = await this.pods.isStopRequested(podId);
    const phase = stopped ? 'Stopped' : exitCode === 0 ? 'Succeeded' : 'Failed';
    await this.finish(pod, phase, { exitCode, ...(phase === 'Failed' ? { error: `exited with code ${exitCode}` } : {}) });
    this.logger.info({ exitCode, phase }, 'pod ended');
  }

  private async stopLocked(podId: string): Promise<void> {
    const pod = await this.pods.get(podId);
    if (!pod) return;
    this.stopping.add(podId);
    try {
      const exitCode = await this.rt.runc.stop(podId, this.stopGraceMs);
      await this.sandboxes.teardown(podId);
      if (!isTerminal(pod.phase)) await this.finish(pod, 'Stopped', exitCode === undefined ? {} : { exitCode });
      this.logger.info({ exitCode }, 'pod stopped');
    } finally {
      this.stopping.delete(podId);
    }
  }

  private async finish(
    pod: PodRecord,
    phase: 'Succeeded' | 'Failed' | 'Stopped' | 'Lost',
    patch: { exitCode?: number; error?: string },
  ): Promise<void> {
    await this.pods.transition(pod.id, phase, { ...patch, endpoints: null }, this.nodeId);
    // Released again on its own in case the pod record was already terminal.
    await this.nodes.release(this.nodeId, pod.id);
    this.onInventoryChange();
  }

  /** Marks a pod failed after its start job gave up (retries exhausted). */
  async giveUp(podId: string, error: Error): Promise<void> {
    await this.locks.with(podId, async () => {
      const pod = await this.pods.get(podId);
      if (!pod || isTerminal(pod.phase)) return;
      await this.sandboxes.teardown(podId).catch(() => undefined);
      await this.finish(pod, 'Failed', { error: error.message });
    });
  }

  /**
   * At boot: containers left in this node's runc root by an earlier agent are
   * not adopted in this version; they are removed and their pods marked Lost.
   */
  async sweepLeftovers(): Promise<number> {
    const leftovers = await this.rt.runc.list();
    for (const { id } of leftovers) {
      await this.locks.with(id, async () => {
        this.stopping.add(id);
        try {
          await this.rt.runc.stop(id, 0).catch(() => undefined);
          await this.sandboxes.teardown(id);
          const pod = await this.pods.get(id);
          // A pod placed elsewhere after this node was lost belongs to its new node now.
          if (pod && !isTerminal(pod.phase) && pod.node === this.nodeId) {
            await this.finish(pod, 'Lost', { error: 'node agent restarted; container removed' });
          }
        } finally {
          this.stopping.delete(id);
        }
      });
    }
    return leftovers.length;
  }

  /** Stops every pod this agent runs (local nodes, on shutdown). */
  async stopAll(): Promise<void> {
    const running = await this.rt.runc.list();
    await Promise.all(
      running.map(({ id }) =>
        this.stop(id).catch((e: unknown) => this.logger.error({ podId: id, err: (e as Error).message }, 'stop failed')),
      ),
    );
  }
}

function isPermanent(error: unknown): boolean {
  if (error instanceof PermanentJobError) return true;
  if (error instanceof RegistryError) return error.kind !== 'unavailable';
  // A spec that cannot be built (e.g. an image with no command) fails the same way every time.
  return error instanceof NodeRuntimeError && error.operation === 'build runtime spec';
}
