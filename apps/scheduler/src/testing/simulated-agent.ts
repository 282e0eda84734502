import type { Redis } from 'ioredis';
import { JobRunner, nodeQueueName, type JobHandler } from '@warmpod/jobs';
import type { Logger } from '@warmpod/observability';
import { NodeSessions, PodRepository } from '@warmpod/store';

/**
 * A node for scheduler integration tests: registered in the store as the
 * gRPC registry would, and consuming its real `node-<id>` queue as an agent
 * does, without runc: a start-pod re-reads the pod (a redelivered job for a
 * pod already started does nothing), runs it Starting -> Running, and ends it
 * Succeeded after `lifetimeMs`, which releases its reservation in the same
 * step, as the agent's exit watch does. It heartbeats every second.
 *
 * Across a Redis restart a write can land while its reply is lost; ioredis
 * then sends it again and the second run finds its own result (the pod
 * already Starting, or already Succeeded). One agent per node runs in this
 * process, so the pods it is starting are known here: a redelivered job for
 * one of them does nothing, and a transition that finds its own target phase
 * on a pod this agent owns is its own write. A run that fails midway gives
 * the pod up, so the job's retry takes it on from the phase it reached.
 */
export class SimulatedAgent {
  private readonly runner: JobRunner<'node'>;
  private readonly pods: PodRepository;
  private readonly lifetimes = new Set<Promise<void>>();
  /** Pods a start-pod run of this agent has taken (from Starting on); their later jobs do nothing. */
  private readonly owned = new Set<string>();
  private heartbeat?: NodeJS.Timeout;
  readonly errors: string[] = [];
  started = 0;

  constructor(
    readonly nodeId: string,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly lifetimeMs: number,
    logger: Logger,
  ) {
    this.pods = new PodRepository(redis, prefix);
    const refuse = (name: string): JobHandler<never> => ({
      run: async () => {
        throw new Error(`${name} is not expected in this test`);
      },
    });
    this.runner = new JobRunner({
      kind: 'node',
      queueName: nodeQueueName(nodeId),
      connection: redis,
      prefix,
      concurrency: 16,
      logger,
      handlers: {
        'start-pod': { run: (data) => this.start(data.podId) },
        'stop-pod': refuse('stop-pod'),
        'pull-image': refuse('pull-image'),
        'checkpoint-pod': refuse('checkpoint-pod'),
        'delete-checkpoint': refuse('delete-checkpoint'),
        'drain-node': refuse('drain-node'),
      },
    });
  }

  async register(capacity: { cpu: number; memoryMiB: number; gpu: number }): Promise<void> {
    const sessions = new NodeSessions(this.redis, this.prefix);
    const session = `s-${this.nodeId}`;
    await sessions.register(
      { id: this.nodeId, labels: {}, capacity, agentUrl: 'http://127.0.0.1:1', capabilities: { runtime: 'runc' } },
      session,
    );
    await sessions.applyInventory(this.nodeId, session, { images: [], runningPods: [], checkpoints: [] });
    // Heartbeats as an agent sends them, so the node stays Ready however long the test runs.
    this.heartbeat = setInterval(() => {
      sessions.touch(this.nodeId, session).catch((error: unknown) => this.errors.push(`heartbeat: ${String(error)}`));
    }, 1_000);
    this.runner.start();
  }

  private async start(podId: string): Promise<void> {
    // A job redelivered while its first run still goes (a lock lost to a Redis restart) does nothing, as on an agent.
    if (this.owned.has(podId)) return;
    const pod = await this.pods.get(podId);
    // Starting or Running here without a run of this agent: an earlier run failed midway (a write refused
    // during the restart, or its reply lost); its retry goes on from what the store says.
    if (!pod || pod.node !== this.nodeId || !['Scheduled', 'Starting', 'Running'].includes(pod.phase)) return;
    this.owned.add(podId);
    try {
      if (pod.phase === 'Scheduled') {
        const starting = await this.pods.transition(podId, 'Starting', {}, undefined, ['Scheduled']);
        if (!starting.applied && starting.previous !== 'Starting') {
          this.owned.delete(podId);
          return;
        }
      }
      if (pod.phase !== 'Running') await this.pods.transition(podId, 'Running', {});
    } catch (error) {
      // Not taken after all: the job's retry must not find it owned and do nothing (the pod would stay Scheduled).
      this.owned.delete(podId);
      throw error;
    }
    this.started++;
    const life = new Promise<void>((resolve) => setTimeout(resolve, this.lifetimeMs))
      .then(async () => {
        const ended = await this.pods.transition(podId, 'Succeeded', { exitCode: 0 }, this.nodeId);
        // Nothing but this agent ends its pods here: Succeeded already is its own write, resent after a lost reply.
        if (!ended.applied && ended.previous !== 'Succeeded') this.errors.push(`${podId} did not end: was ${ended.previous ?? 'missing'}`);
      })
      .catch((error: unknown) => void this.errors.push(`${podId}: ${String(error)}`))
      .finally(() => this.lifetimes.delete(life));
    this.lifetimes.add(life);
  }

  /** Waits for the pods it runs to end, then stops consuming. */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    await Promise.all([...this.lifetimes]);
    await this.runner.close();
  }
}
