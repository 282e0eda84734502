/**
 * An in-memory node for unit specs of the pod lifecycle: pod records with
 * the real phase rules, an image cache, runc containers that exit when told,
 * sandboxes and checkpoints whose outcomes a spec chooses. No root, no Redis.
 * Test code only.
 */
import { canTransition, newId, normaliseSpec, type Endpoint, type PodPhase, type PodRecord, type PodRequest } from '@warmpod/domain';
import {
  ReadinessTimeoutError,
  type CachedImageEntry,
  type EnsuredImage,
  type ReadinessTarget,
  type RuncContainer,
  type ShimState,
  type StableResult,
  type WaitOptions,
  type WaitReadyOptions,
} from '@warmpod/node-runtime';
import { createLogger } from '@warmpod/observability';
import type { StatusPatch, TransitionOutcome } from '@warmpod/store';
import { podLifecycle, type PodLifecycle, type PodLifecycleDeps } from '../pod-lifecycle';
import type { LaunchedPod, RestoredPod, RestoreSource } from '../pod-sandbox';
import { FakeCheckpoints, NODE } from './fake-checkpoints';

export { FakeCheckpoints, NODE } from './fake-checkpoints';

type FakedPods = PodLifecycleDeps['pods'];
type FakedNodes = PodLifecycleDeps['nodes'] & PodLifecycleDeps['reservations'];

const DIGEST = `sha256:${'d'.repeat(64)}`;

/** A pod as the scheduler hands it to this node; `checkpoint: true` asks for checkpointing (and gets it). */
export function scheduledPod(opts: { checkpoint?: boolean; node?: string; phase?: PodPhase; spec?: Partial<PodRequest> } = {}): PodRecord {
  const spec = normaliseSpec({
    image: 'app:1',
    ports: [8080],
    ...(opts.checkpoint ? { checkpoint: { enabled: true, condition: { type: 'tcp', port: 8080 }, timeoutSeconds: 5 } } : {}),
    ...opts.spec,
  });
  return {
    id: newId('pod'),
    tenant: 'acme',
    createdAt: new Date().toISOString(),
    labels: {},
    image: { requested: 'app:1', pinned: `r.test/app@${DIGEST}`, digest: DIGEST },
    spec,
    phase: opts.phase ?? 'Scheduled',
    node: opts.node ?? NODE,
    timeline: {},
    endpoints: [],
    restarts: 0,
    ...(opts.checkpoint ? { checkpointing: { enabled: true } } : {}),
  };
}

export class FakePods implements FakedPods {
  readonly records = new Map<string, PodRecord>();
  readonly stopRequested = new Set<string>();
  /** Every phase each pod went through, in order. */
  readonly phases = new Map<string, PodPhase[]>();
  /** Phases whose write lands but whose reply is lost (a Redis restart): the resent write finds its own result. */
  readonly lostReplies = new Set<PodPhase>();

  add(pod: PodRecord): PodRecord {
    this.records.set(pod.id, structuredClone(pod));
    this.phases.set(pod.id, [pod.phase]);
    return pod;
  }

  async get(id: string): Promise<PodRecord | undefined> {
    const pod = this.records.get(id);
    return pod && structuredClone(pod);
  }

  async transition(id: string, to: PodPhase, patch: StatusPatch = {}): Promise<TransitionOutcome> {
    const pod = this.records.get(id);
    if (!pod) return { applied: false };
    const previous = pod.phase;
    if (!canTransition(previous, to)) return { applied: false, previous };
    pod.phase = to;
    this.phases.get(id)?.push(to);
    if (patch.startMode) pod.startMode = patch.startMode;
    if (patch.endpoints !== undefined) pod.endpoints = patch.endpoints ?? [];
    if (patch.exitCode !== undefined && patch.exitCode !== null) pod.exitCode = patch.exitCode;
    if (patch.error) pod.error = patch.error;
    if (patch.checkpoint) pod.checkpoint = patch.checkpoint;
    if (patch.node === null) delete pod.node;
    if (patch.message) pod.message = patch.message;
    if (patch.restarts !== undefined) pod.restarts = patch.restarts;
    if (patch.readyAt) pod.ready = pod.timeline.Ready = patch.readyAt;
    return this.lostReplies.has(to) ? { applied: false, previous: to } : { applied: true, previous };
  }

  async annotate(id: string, patch: Pick<StatusPatch, 'checkpoint' | 'restarts' | 'message'>): Promise<void> {
    const pod = this.records.get(id);
    if (!pod) return;
    if (patch.checkpoint) pod.checkpoint = patch.checkpoint;
    if (patch.restarts !== undefined) pod.restarts = patch.restarts;
    if (patch.message) pod.message = patch.message;
  }

  async isStopRequested(id: string): Promise<boolean> {
    return this.stopRequested.has(id);
  }
}

export class FakeNodes implements FakedNodes {
  readonly cachedDigests: string[] = [];
  readonly released: string[] = [];
  /** Pods holding a reservation on this node (the scheduler placed them here). */
  readonly reserved = new Set<string>();
  async addCachedDigest(_node: string, digest: string): Promise<void> {
    this.cachedDigests.push(digest);
  }
  async release(_node: string, podId: string): Promise<void> {
    this.released.push(podId);
    this.reserved.delete(podId);
  }
  async list(): Promise<string[]> {
    return [...this.reserved];
  }
}

export class FakeImageCache {
  readonly digests = new Set<string>();
  /** Registry fetches: pulls of digests not cached. */
  fetches = 0;
  async has(digest: string): Promise<boolean> {
    return this.digests.has(digest);
  }
  async ensure(pinned: string): Promise<EnsuredImage> {
    const digest = pinned.slice(pinned.indexOf('@') + 1);
    const alreadyCached = this.digests.has(digest);
    if (!alreadyCached) this.fetches++;
    this.digests.add(digest);
    return {
      digest,
      bundleDir: `/images/${digest}`,
      lowers: { dir: `/images/${digest}/lower`, names: ['0'] },
      imageConfig: {},
      bytesFetched: alreadyCached ? 0 : 1000,
      alreadyCached,
    };
  }
  async list(): Promise<CachedImageEntry[]> {
    return [...this.digests].map((digest) => ({ digest, sizeBytes: 1000, layers: [], diskBytes: 1000 }));
  }
}

/** Containers that run until a spec (or a stop) makes them exit; their shims' exit codes outlive the agent. */
export class FakeRunc {
  readonly running = new Set<string>();
  /** Running containers a checkpoint left frozen. */
  readonly paused = new Set<string>();
  /** Pod cgroups under the node's parent (a spec adds strays). */
  readonly cgroups = new Set<string>();
  readonly resumed: string[] = [];
  private readonly exits = new Map<string, number>();
  private readonly waiters = new Map<string, Array<(code: number) => void>>();

  /** The agent process died: its pending exit waits die with it (the shims and containers do not). */
  dropWaiters(): void {
    this.waiters.clear();
  }

  async listShims(): Promise<ShimState[]> {
    const ids = new Set([...this.running, ...this.exits.keys()]);
    return [...ids].map((podId) => {
      const exitCode = this.exits.get(podId);
      return exitCode === undefined ? { podId, pid: 1 } : { podId, exitCode };
    });
  }

  async resume(podId: string): Promise<void> {
    this.paused.delete(podId);
    this.resumed.push(podId);
  }

  async listPodCgroups(): Promise<string[]> {
    return [...this.cgroups];
  }

  async removePodCgroup(podId: string): Promise<void> {
    this.cgroups.delete(podId);
  }

  exit(podId: string, code: number): void {
    this.running.delete(podId);
    this.exits.set(podId, code);
    for (const resolve of this.waiters.get(podId) ?? []) resolve(code);
    this.waiters.delete(podId);
  }

  waitExit(podId: string, opts: WaitOptions = {}): Promise<number> {
    const code = this.exits.get(podId);
    if (code !== undefined) return Promise.resolve(code);
    return new Promise((resolve, reject) => {
      this.waiters.set(podId, [...(this.waiters.get(podId) ?? []), resolve]);
      opts.signal?.addEventListener('abort', () => reject(new Error('wait aborted')), { once: true });
      if (opts.timeoutMs !== undefined) setTimeout(() => reject(new Error('timed out')), opts.timeoutMs).unref();
    });
  }

  async stop(podId: string): Promise<number> {
    if (this.running.has(podId)) this.exit(podId, 143);
    return this.exits.get(podId) ?? 143;
  }

  /** runc lists a container until it is deleted: running, paused, or stopped once it exited. */
  async list(): Promise<RuncContainer[]> {
    const running = [...this.running].map((id) => ({
      id,
      pid: 1,
      status: this.paused.has(id) ? 'paused' : 'running',
      bundle: `/pods/${id}`,
    }));
    const stopped = [...this.exits.keys()].map((id) => ({ id, pid: 0, status: 'stopped', bundle: `/pods/${id}` }));
    return [...running, ...stopped];
  }

  forget(podId: string): void {
    this.running.delete(podId);
    this.paused.delete(podId);
    this.exits.delete(podId);
  }
}

/** What a restore does: work, fail with an error, or hang until the start is aborted (a stop). */
export type RestoreBehaviour = 'ok' | Error | 'hang';

export class FakeSandboxes {
  launches = 0;
  restores = 0;
  /** Teardowns per pod. */
  readonly teardowns: string[] = [];
  /** Pods with a dir or netns on the node, with their address. */
  readonly onNode = new Map<string, string | undefined>();
  /** Pods whose ports this agent process has open (gone when it dies). */
  readonly exposed = new Set<string>();
  readonly reexposed: string[] = [];
  /** Restored pods, and those of them put under their CPU quota (RestoredPod.limitCpu). */
  readonly restored = new Set<string>();
  readonly cpuLimited = new Set<string>();
  /** Restored pods whose ports were opened before their CPU quota was set. */
  readonly exposedWithoutCpuLimit: string[] = [];
  restoreBehaviour: RestoreBehaviour = 'ok';
  launchError?: Error;
  reexposeError?: Error;

  constructor(private readonly runc: FakeRunc) {}

  async launch(pod: PodRecord, _image: EnsuredImage, opts: { expose: boolean } = { expose: true }): Promise<LaunchedPod> {
    if (this.launchError) throw this.launchError;
    this.launches++;
    this.runc.running.add(pod.id);
    this.onNode.set(pod.id, '10.0.0.2');
    return { ip: '10.0.0.2', rootfsDir: `/pods/${pod.id}/merged`, endpoints: opts.expose ? await this.expose(pod) : [] };
  }

  async restore(pod: PodRecord, _image: EnsuredImage, _source: RestoreSource, _tools: unknown, signal?: AbortSignal): Promise<RestoredPod> {
    this.restores++;
    const behaviour = this.restoreBehaviour;
    if (behaviour === 'hang') {
      await new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
    }
    if (behaviour instanceof Error) throw behaviour;
    this.runc.running.add(pod.id);
    this.onNode.set(pod.id, '10.0.0.3');
    const steps = { prepareMs: 0, unpackMs: 0, mountMs: 0, netnsMs: 0, verifyMs: 0, specMs: 0, runcRestoreMs: 0 };
    this.restored.add(pod.id);
    this.cpuLimited.delete(pod.id);
    const limitCpu = async (): Promise<void> => void this.cpuLimited.add(pod.id);
    return { ip: '10.0.0.3', rootfsDir: `/pods/${pod.id}/merged`, endpoints: [], steps, limitCpu };
  }

  async expose(pod: PodRecord): Promise<Endpoint[]> {
    if (this.restored.has(pod.id) && !this.cpuLimited.has(pod.id)) this.exposedWithoutCpuLimit.push(pod.id);
    this.exposed.add(pod.id);
    return pod.spec.ports.map((containerPort) => ({ containerPort, address: `127.0.0.1:${30000 + containerPort}` }));
  }

  async reexpose(pod: PodRecord): Promise<Endpoint[]> {
    if (this.reexposeError) throw this.reexposeError;
    this.exposed.add(pod.id);
    this.reexposed.push(pod.id);
    return pod.endpoints;
  }

  async listOnNode(): Promise<Array<{ podId: string; ip?: string }>> {
    return [...this.onNode].map(([podId, ip]) => (ip ? { podId, ip } : { podId }));
  }

  async teardown(podId: string): Promise<void> {
    this.teardowns.push(podId);
    this.exposed.delete(podId);
    this.onNode.delete(podId);
    this.runc.forget(podId);
  }
}

/** What a readiness probe finds: ready, never ready (timeout), or nothing until the container exits or the start is aborted. */
export type ProbeBehaviour = 'ready' | 'never' | 'hang';

/** Readiness of the fake node's pods; records whether a pod's ports were open while it was probed. */
export class FakeProbe {
  /** For a freshly started pod, and for a restored one (FakeSandboxes gives those 10.0.0.3). */
  afterStart: ProbeBehaviour = 'ready';
  afterRestore: ProbeBehaviour = 'ready';
  /** Outcomes of the next fresh starts' waits, in order, before `afterStart` applies. */
  readonly nextStarts: ProbeBehaviour[] = [];
  readonly probed: string[] = [];
  readonly exposedWhileProbed: string[] = [];

  constructor(private readonly sandboxes: FakeSandboxes) {}

  async waitUntilReady(target: ReadinessTarget, _condition: unknown, opts: WaitReadyOptions): Promise<StableResult> {
    this.probed.push(target.podId);
    if (this.sandboxes.exposed.has(target.podId)) this.exposedWhileProbed.push(target.podId);
    const behaviour = target.ip === '10.0.0.3' ? this.afterRestore : (this.nextStarts.shift() ?? this.afterStart);
    if (behaviour === 'never')
      throw new ReadinessTimeoutError('not ready by the deadline after 3 probes; last failure: connection refused', 3);
    if (behaviour === 'hang') {
      await new Promise((_resolve, reject) => opts.signal?.addEventListener('abort', () => reject(opts.signal?.reason), { once: true }));
    }
    return { attempts: 1, ms: 0 };
  }
}

/** One fake node and the real lifecycle pieces running on it. */
export class FakeNode {
  readonly pods = new FakePods();
  readonly nodes = new FakeNodes();
  readonly cache = new FakeImageCache();
  readonly runc = new FakeRunc();
  readonly sandboxes = new FakeSandboxes(this.runc);
  readonly checkpoints = new FakeCheckpoints();
  readonly probe = new FakeProbe(this.sandboxes);
  changes = 0;
  /** Pods handed back to the scheduler (a drain moved them), with their new generation. */
  readonly rescheduled: Array<{ podId: string; generation: number }> = [];
  lifecycle: PodLifecycle;

  constructor(private readonly opts: { canCheckpoint?: boolean } = {}) {
    this.lifecycle = this.agent();
  }

  /**
   * The agent process dies and a new one starts on the same node: containers,
   * shims, pod dirs and the store stay; its locks, exit waits and port
   * proxies do not. The new agent's lifecycle has adopted nothing yet.
   */
  restartAgent(): PodLifecycle {
    this.runc.dropWaiters();
    this.sandboxes.exposed.clear();
    this.lifecycle = this.agent();
    return this.lifecycle;
  }

  /** A pod the scheduler placed here (reserved), started by this agent. */
  async placeAndStart(opts: Parameters<typeof scheduledPod>[0] = {}): Promise<PodRecord> {
    const pod = this.pods.add(scheduledPod(opts));
    this.nodes.reserved.add(pod.id);
    await this.lifecycle.starter.start(pod.id);
    return this.pod(pod.id);
  }

  private agent(): PodLifecycle {
    const opts = this.opts;
    return podLifecycle({
      nodeId: NODE,
      pods: this.pods,
      nodes: this.nodes,
      reservations: this.nodes,
      cache: this.cache,
      runc: this.runc,
      sandboxes: this.sandboxes,
      probe: this.probe,
      checkpoints: opts.canCheckpoint === false ? undefined : this.checkpoints,
      stopGraceMs: 0,
      reschedule: async (podId, generation) => void this.rescheduled.push({ podId, generation }),
      reportChange: () => this.changes++,
      logger: createLogger({ service: 'fake-node', level: 'silent' }),
    });
  }

  pod(id: string): PodRecord {
    const pod = this.pods.records.get(id);
    if (!pod) throw new Error(`no pod ${id}`);
    return pod;
  }

  phasesOf(id: string): PodPhase[] {
    return this.pods.phases.get(id) ?? [];
  }
}
