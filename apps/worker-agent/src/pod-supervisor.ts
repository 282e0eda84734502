import { isTerminal, type PodPhase, type PodRecord } from '@warmpod/domain';
import { PermanentJobError } from '@warmpod/jobs';
import { NodeRuntimeError } from '@warmpod/node-runtime';
import type { Logger } from '@warmpod/observability';
import { RegistryError } from '@warmpod/registry';
import type { NodeRepository, PodRepository } from '@warmpod/store';
import type { PodLocks } from './pod-locks';
import type { NodeRuntime, PodSandboxes } from './pod-sandbox';

/**
 * A pod's life on this node: pull, start, watch, stop. Every entry point
 * re-reads the pod record and exits early when there is nothing to do, so a
 * job delivered twice never starts a second container.
 */
export class PodSupervisor {
  private readonly stopping = new Set<string>();

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
  ) {}

  /** `attempt` > 1 means an earlier try may have left parts behind. */
  start(podId: string, attempt = 1): Promise<void> {
    return this.locks.with(podId, () => this.startLocked(podId, attempt));
  }

  stop(podId: string): Promise<void> {
    return this.locks.with(podId, () => this.stopLocked(podId));
  }

  private async startLocked(podId: string, attempt: number): Promise<void> {
    const pod = await this.pods.get(podId);
    if (!pod || isTerminal(pod.phase) || pod.phase === 'Running') return;
    if (pod.node !== this.nodeId) throw new PermanentJobError(`pod ${podId} is placed on ${pod.node ?? 'no node'}, not ${this.nodeId}`);
    if (await this.pods.isStopRequested(podId)) {
      await this.finish(pod, 'Stopped', {});
      return;
    }
    try {
      await this.run(pod, attempt > 1 || pod.phase === 'Starting');
    } catch (error) {
      await this.sandboxes.teardown(podId).catch(() => undefined);
      if (isPermanent(error)) {
        await this.finish(pod, 'Failed', { error: (error as Error).message });
        throw new PermanentJobError((error as Error).message);
      }
      throw error;
    }
  }

  private async run(pod: PodRecord, mayHaveLeftovers: boolean): Promise<void> {
    const alreadyCached = await this.rt.cache.has(pod.image.digest);
    if (!alreadyCached) await this.advance(pod.id, 'Pulling');
    const image = await this.rt.cache.ensure(pod.image.pinned);
    if (!alreadyCached) {
      // New on this node: record it now so placement sees it before the next inventory delta.
      const entry = (await this.rt.cache.list()).find((c) => c.digest === image.digest);
      await this.nodes.addCachedDigest(this.nodeId, image.digest, entry?.sizeBytes ?? image.bytesFetched, entry?.layers ?? []);
      this.onInventoryChange();
    }
    await this.advance(pod.id, 'Starting');
    // Only a retried start can find parts of an earlier attempt; a fresh one skips the cost.
    if (mayHaveLeftovers) await this.sandboxes.teardown(pod.id);
    const { endpoints } = await this.sandboxes.launch(pod, image);
    this.onInventoryChange();
    const moved = await this.pods.transition(pod.id, 'Running', {
      startMode: alreadyCached ? 'warm-cache' : 'cold',
      endpoints,
    });
    if (!moved.applied) {
      this.logger.info({ phase: moved.previous }, 'pod changed phase while starting; tearing down');
      await this.sandboxes.teardown(pod.id);
      return;
    }
    this.logger.info({ endpoints: endpoints.length, cached: alreadyCached }, 'pod running');
    this.watch(pod.id);
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

  private async finish(pod: PodRecord, phase: 'Succeeded' | 'Failed' | 'Stopped' | 'Lost', patch: { exitCode?: number; error?: string }): Promise<void> {
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
    await Promise.all(running.map(({ id }) => this.stop(id).catch((e: unknown) => this.logger.error({ podId: id, err: (e as Error).message }, 'stop failed'))));
  }
}

function isPermanent(error: unknown): boolean {
  if (error instanceof PermanentJobError) return true;
  if (error instanceof RegistryError) return error.kind !== 'unavailable';
  // A spec that cannot be built (e.g. an image with no command) fails the same way every time.
  return error instanceof NodeRuntimeError && error.operation === 'build runtime spec';
}
