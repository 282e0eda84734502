import { Queue } from 'bullmq';
import { newId, type RuntimeFingerprint } from '@warmpod/domain';
import { bullPrefix, JobBus, nodeQueueName } from '@warmpod/jobs';
import { CheckpointRepository, NodeRepository, NodeSessions, PodRepository } from '@warmpod/store';
import { after, before } from 'node:test';
import { startGateway, Traces, uniquePrefix, type TestGateway } from './harness';

/** Records, tenant and node indexes, and restorable sets of the checkpoint index. */
const CHECKPOINT_KEYS = /^(ckpt:|tenant:[^:]+:ckpts$|node:[^:]+:ckpts$|node:[^:]+:ckpt-key:)/;

export const DIGEST = `sha256:${'c'.repeat(64)}`;
export const CRIU_NODE = 'node-criu';
export const PLAIN_NODE = 'node-plain';
export const NO_CRIU_REASON = 'criu check failed: no kernel support';
/** What the CRIU node's agent measured, as the key must see it. */
export const RUNTIME: RuntimeFingerprint = {
  arch: 'x64',
  cpuFlags: ['aes', 'avx2', 'sse4_2'],
  kernel: '6.1.0-28-amd64',
  criuVersion: '3.17.1',
  criuMode: 'breakpoints',
  runcVersion: '1.1.5',
};

const capabilities = (criuOk: boolean) => ({
  runtime: 'runc',
  runcVersion: RUNTIME.runcVersion,
  criuVersion: criuOk ? RUNTIME.criuVersion : '',
  criuOk,
  criuReason: criuOk ? '' : NO_CRIU_REASON,
  criuMode: criuOk ? RUNTIME.criuMode : '',
  kernel: RUNTIME.kernel,
  arch: RUNTIME.arch,
  cpuFlags: RUNTIME.cpuFlags.join(' '),
});

/**
 * The cluster side of the checkpoint API without a scheduler or agents: a
 * CRIU-capable node and one without CRIU registered as the registry would,
 * pods put on them through the same repository calls the agents make, and
 * the node queues the gateway sends to.
 */
export class CheckpointCluster {
  readonly nodes: NodeRepository;
  readonly sessions: NodeSessions;
  readonly pods: PodRepository;
  readonly checkpoints: CheckpointRepository;
  private readonly queues = new Map<string, Queue>();

  constructor(private readonly traces: Traces) {
    this.nodes = new NodeRepository(traces.redis, traces.prefix);
    this.sessions = new NodeSessions(traces.redis, traces.prefix);
    this.pods = new PodRepository(traces.redis, traces.prefix);
    this.checkpoints = new CheckpointRepository(traces.redis, traces.prefix);
  }

  async registerNodes(): Promise<void> {
    for (const [id, criuOk] of [
      [CRIU_NODE, true],
      [PLAIN_NODE, false],
    ] as const) {
      await this.sessions.register(
        {
          id,
          labels: {},
          capacity: { cpu: 8, memoryMiB: 16384, gpu: 4 },
          agentUrl: 'http://127.0.0.1:1',
          capabilities: capabilities(criuOk),
        },
        '',
      );
    }
  }

  /** A pod stored and moved along its phases up to `phase` on `node`; another `env` gives another checkpoint key. */
  async pod(
    opts: {
      node?: string;
      tenant?: string;
      gpu?: number;
      env?: Record<string, string>;
      phase?: 'Pending' | 'Scheduled' | 'Running' | 'Succeeded';
    } = {},
  ): Promise<string> {
    const id = newId('pod');
    const node = opts.node ?? CRIU_NODE;
    await this.pods.create({
      id,
      tenant: opts.tenant ?? 'alpha',
      createdAt: new Date().toISOString(),
      labels: {},
      image: { requested: 'app', pinned: `127.0.0.1:5000/app@${DIGEST}`, digest: DIGEST },
      spec: {
        command: ['/bin/server'],
        args: [],
        env: opts.env ?? { MODE: 'test' },
        ports: [8080],
        resources: { cpu: 0.1, memoryMiB: 64, gpu: opts.gpu ?? 0 },
        nodeSelector: {},
        restartPolicy: 'Never',
      },
    });
    const phase = opts.phase ?? 'Running';
    if (phase === 'Pending') return id;
    await this.pods.transition(id, 'Scheduled', { node });
    if (phase === 'Scheduled') return id;
    await this.pods.transition(id, 'Starting');
    await this.pods.transition(id, 'Running');
    if (phase === 'Succeeded') await this.pods.transition(id, 'Succeeded', { exitCode: 0 }, node);
    return id;
  }

  queue(node: string): Queue {
    let queue = this.queues.get(node);
    if (!queue) {
      queue = new Queue(nodeQueueName(node), { connection: this.traces.redis, prefix: bullPrefix(this.traces.prefix) });
      this.queues.set(node, queue);
    }
    return queue;
  }

  /** Checkpoint records and indexes, plus every job on both node queues: what a refused request must not change. */
  async snapshot(): Promise<{ keys: string[]; jobs: Record<string, Record<string, number>> }> {
    const keys = (await this.prefixKeys()).filter((k) => CHECKPOINT_KEYS.test(k.slice(this.traces.prefix.length)));
    const jobs: Record<string, Record<string, number>> = {};
    for (const node of [CRIU_NODE, PLAIN_NODE]) jobs[node] = await this.queue(node).getJobCounts();
    return { keys: keys.sort(), jobs };
  }

  /** One SCAN pass in large steps: the test Redis may hold many other keys. */
  private async prefixKeys(): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.traces.redis.scan(cursor, 'MATCH', `${this.traces.prefix}*`, 'COUNT', 20_000);
      found.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return found;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}

/**
 * One gateway on its own prefix with the checkpoint test nodes registered,
 * started before the file's tests and torn down after them (keys included).
 */
export function checkpointSuite(name: string): {
  readonly prefix: string;
  readonly gateway: TestGateway;
  readonly traces: Traces;
  readonly cluster: CheckpointCluster;
} {
  const prefix = uniquePrefix(name);
  const suite = { prefix } as { prefix: string; gateway: TestGateway; traces: Traces; cluster: CheckpointCluster };
  before(async () => {
    suite.gateway = await startGateway({ WARMPOD_PREFIX: prefix });
    suite.traces = new Traces(prefix);
    suite.cluster = new CheckpointCluster(suite.traces);
    await suite.cluster.registerNodes();
  });
  after(async () => {
    await suite.gateway?.close();
    await suite.cluster?.close();
    await suite.traces?.cleanUp();
  });
  return suite;
}

/** A second gateway on the suite's prefix whose node queues always fail (registered as before/after hooks). */
export function queueDownGateway(suite: { readonly prefix: string }): { readonly gateway: TestGateway } {
  class BrokenBus extends JobBus {
    override async toNode(): Promise<void> {
      throw new Error('queue is down');
    }
  }
  const handle = {} as { gateway: TestGateway };
  before(async () => {
    handle.gateway = await startGateway({ WARMPOD_PREFIX: suite.prefix }, { jobBus: (redis, p) => new BrokenBus(redis, p) });
  });
  after(async () => handle.gateway?.close());
  return handle;
}
