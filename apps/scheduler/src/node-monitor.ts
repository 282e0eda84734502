import { isTerminal } from '@warmpod/domain';
import type { JobBus } from '@warmpod/jobs';
import { messageOf, type Logger } from '@warmpod/observability';
import { isReady, type NodeLiveness, type NodeRepository, type NodeReservations, type PodRepository } from '@warmpod/store';

/**
 * Watches heartbeats. A node silent for longer than the ready window is
 * marked lost (once, whichever replica gets there first); its pods become
 * Lost and release their capacity, and restartable ones are placed again.
 */
export class NodeMonitor {
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<string[]>;

  constructor(
    private readonly nodes: Pick<NodeRepository, 'heartbeats'>,
    private readonly reservations: Pick<NodeReservations, 'list' | 'release'>,
    private readonly liveness: NodeLiveness,
    private readonly pods: PodRepository,
    private readonly bus: JobBus,
    private readonly readyWindowMs: number,
    private readonly logger: Logger,
    /** Told first, so this replica stops placing on the node before its pods are re-queued. */
    private readonly onLost: (nodeId: string) => void = () => undefined,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(
      () => void this.sweep().catch((e: unknown) => this.logger.error({ err: messageOf(e) }, 'node sweep failed')),
      intervalMs,
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping?.catch(() => undefined);
  }

  /** One pass; returns the nodes this call declared lost. */
  sweep(now = Date.now()): Promise<string[]> {
    this.sweeping ??= this.sweepOnce(now).finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweepOnce(now: number): Promise<string[]> {
    const lost: string[] = [];
    // Liveness fields only: a sweep runs every few seconds over every node.
    for (const node of await this.nodes.heartbeats()) {
      if (node.lostAt || isReady(node, this.readyWindowMs, now)) continue;
      if (!(await this.liveness.markLost(node.id, new Date(now - this.readyWindowMs), new Date(now)))) continue;
      lost.push(node.id);
      this.onLost(node.id);
      const podIds = await this.reservations.list(node.id);
      this.logger.warn({ node: node.id, pods: podIds.length, lastHeartbeat: node.heartbeatAt }, 'node lost');
      for (const podId of podIds) await this.evict(podId, node.id);
    }
    return lost;
  }

  private async evict(podId: string, nodeId: string): Promise<void> {
    const pod = await this.pods.get(podId);
    if (!pod || isTerminal(pod.phase) || pod.node !== nodeId) {
      await this.reservations.release(nodeId, podId);
      return;
    }
    const moved = await this.pods.transition(podId, 'Lost', { error: `node ${nodeId} stopped heartbeating`, endpoints: null }, nodeId);
    if (!moved.applied || pod.spec.restartPolicy === 'Never') return;

    const generation = pod.restarts + 1;
    const back = await this.pods.transition(podId, 'Pending', {
      node: null,
      placement: null,
      startMode: null,
      exitCode: null,
      error: null,
      readyAt: null,
      message: `placed again after node ${nodeId} was lost`,
      restarts: generation,
    });
    if (!back.applied) return;
    await this.bus.toScheduler({ name: 'schedule-pod', data: { podId, requestId: `reschedule-${podId}-${generation}`, generation } });
    this.logger.info({ podId, from: nodeId, generation }, 'pod placed again after its node was lost');
  }
}
