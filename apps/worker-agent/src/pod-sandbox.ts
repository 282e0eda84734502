import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { POD_ID, type Endpoint, type PodRecord } from '@warmpod/domain';
import { messageOf, type Logger } from '@warmpod/observability';
import {
  buildRuntimeSpec,
  type PodRootfs,
  readBundleConfig,
  type EnsuredImage,
  type ImageCache,
  type PodNetwork,
  type PortExposer,
  type RuncCheckpointer,
  type RuncRuntime,
  type WritableLayerArchive,
} from '@warmpod/node-runtime';

export interface NodeRuntime {
  cache: ImageCache;
  rootfs: PodRootfs;
  network: PodNetwork;
  runc: RuncRuntime;
  ports: PortExposer;
}

/** A pod whose container runs: its address, root and (once exposed) endpoints. */
export interface LaunchedPod {
  ip: string;
  /** The merged overlay root on the node. */
  rootfsDir: string;
  endpoints: Endpoint[];
}

/** What a restore needs from a stored checkpoint. */
export interface RestoreSource {
  imagesDir: string;
  layerArchivePath: string;
  /** The pod the checkpoint was taken of (its cgroup may need removing). */
  sourcePodId: string;
  /** Its files were verified by digest moments ago (a fetch in this same start): not read again before the restore. */
  imagesVerified?: boolean;
}

/** Where a restore's time went on this side of `runc restore` (ms), for the agent's log and the benchmark. */
export interface SandboxRestoreSteps {
  /** Everything before `runc restore`, wall clock: the steps below overlap. */
  prepareMs: number;
  /** The writable layer unpacked into the upperdir. */
  unpackMs: number;
  /** The overlay mounted (after the unpack). */
  mountMs: number;
  /** Network namespace and CNI, alongside the unpack and the mount. */
  netnsMs: number;
  /** The CRIU images' checksums, alongside the rest (0: verified by a fetch moments ago). */
  verifyMs: number;
  /** The runtime spec built and written (after the mount and the netns). */
  specMs: number;
  /** `runc restore` until the restored pod runs under its quota (RuncCheckpointer.restore). */
  runcRestoreMs: number;
}

/** A restored pod, with where its restore's time went. */
export interface RestoredPod extends LaunchedPod {
  steps: SandboxRestoreSteps;
  /**
   * Puts the pod under its CPU quota. A restored pod runs without it until
   * then (at most RESTORED_CPU_LIMIT_BOUND_MS), so the one readiness probe
   * that confirms the restore is not throttled and does not spend the quota
   * the client's first request then runs under.
   */
  limitCpu: () => Promise<void>;
}

/** The longest a restored pod runs without its CPU quota, whatever its readiness does. */
export const RESTORED_CPU_LIMIT_BOUND_MS = 2_000;

export interface RestoreTools {
  checkpointer: Pick<RuncCheckpointer, 'restore' | 'verifyImages'>;
  archive: Pick<WritableLayerArchive, 'unpack'>;
}

export interface PodSandboxesDeps {
  rt: NodeRuntime;
  dataDir: string;
  /** Host the pod's ports are exposed on. */
  exposeHost: string;
  /** The node's CRIU configuration for runc, where the node checkpoints (writeCriuRuncConfig). */
  criuConfigPath?: string | undefined;
  logger: Logger;
}

/**
 * Everything one pod holds on this node: overlay root, network namespace,
 * container, exposed ports. `launch` and `restore` build it and undo their
 * own partial work on failure; `teardown` removes whatever exists and can
 * run any time.
 */
export class PodSandboxes {
  private readonly rt: NodeRuntime;
  private readonly dataDir: string;
  private readonly exposeHost: string;
  private readonly criuConfigPath: string | undefined;
  private readonly logger: Logger;

  constructor(deps: PodSandboxesDeps) {
    this.rt = deps.rt;
    this.dataDir = deps.dataDir;
    this.exposeHost = deps.exposeHost;
    this.criuConfigPath = deps.criuConfigPath;
    this.logger = deps.logger;
  }

  podDir(podId: string): string {
    return join(this.dataDir, 'pods', podId);
  }

  /** The pod's writable layer (overlay upperdir): what a checkpoint archives. */
  upperDir(podId: string): string {
    return join(this.podDir(podId), 'upper');
  }

  logPath(podId: string): string {
    return join(this.dataDir, 'logs', `${podId}.log`);
  }

  /** Starts the pod's container; ports are exposed only with `expose` (rule 3: after the checkpoint). */
  async launch(pod: PodRecord, image: EnsuredImage, opts: { expose: boolean } = { expose: true }): Promise<LaunchedPod> {
    return this.guarded(pod.id, async () => {
      const { ip, rootfsDir } = await this.prepare(pod, image, stepTimer());
      await this.rt.runc.start(pod.id, this.podDir(pod.id), this.logPath(pod.id));
      const endpoints = opts.expose ? await this.expose(pod, ip) : [];
      return { ip, rootfsDir, endpoints };
    });
  }

  /**
   * Restores the pod from a checkpoint: its writable layer unpacked into a
   * fresh upperdir before the overlay is mounted, then `runc restore` in the
   * pod's own bundle (new root, netns, cgroup). Ports stay closed: the caller
   * exposes them once the restored pod is confirmed ready.
   */
  async restore(
    pod: PodRecord,
    image: EnsuredImage,
    source: RestoreSource,
    tools: RestoreTools,
    signal?: AbortSignal,
  ): Promise<RestoredPod> {
    return this.guarded(pod.id, async () => {
      const timed = stepTimer();
      const started = Date.now();
      // The layer must be in the upperdir before the overlay mounts; the netns and the images' checksums do not wait for it.
      const [prepared] = await settleAll([
        this.prepare(pod, image, timed, () => tools.archive.unpack(source.layerArchivePath, this.upperDir(pod.id))),
        source.imagesVerified ? Promise.resolve() : timed('verifyMs', () => tools.checkpointer.verifyImages(pod.id, source.imagesDir)),
      ]);
      const { ip, rootfsDir } = prepared;
      const prepareMs = Date.now() - started;
      signal?.throwIfAborted();
      const { limitCpu } = await timed('runcRestoreMs', () =>
        tools.checkpointer.restore(pod.id, this.podDir(pod.id), source.imagesDir, this.logPath(pod.id), {
          sourcePodId: source.sourcePodId,
          imagesVerified: true,
          deferCpuLimitMs: RESTORED_CPU_LIMIT_BOUND_MS,
          ...(signal ? { signal } : {}),
        }),
      );
      const { unpackMs = 0, mountMs = 0, netnsMs = 0, verifyMs = 0, specMs = 0, runcRestoreMs = 0 } = timed.steps;
      return { ip, rootfsDir, endpoints: [], steps: { prepareMs, unpackMs, mountMs, netnsMs, verifyMs, specMs, runcRestoreMs }, limitCpu };
    });
  }

  expose(pod: PodRecord, ip: string): Promise<Endpoint[]> {
    return this.rt.ports.expose(pod.id, ip, pod.spec.ports, this.exposeHost);
  }

  /** After an agent restart: the pod's ports open again on the endpoints its record holds (clients keep those addresses). */
  reexpose(pod: PodRecord, ip: string): Promise<Endpoint[]> {
    return this.rt.ports.expose(pod.id, ip, pod.spec.ports, this.exposeHost, pod.endpoints);
  }

  /** Pods that have a directory (overlay root, bundle) or a network namespace on this node, with their address. */
  async listOnNode(): Promise<Array<{ podId: string; ip?: string }>> {
    const dirs = await readdir(join(this.dataDir, 'pods')).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    });
    const attached = await this.rt.network.listAttached();
    const found = new Map<string, { podId: string; ip?: string }>(dirs.filter((d) => POD_ID.test(d)).map((podId) => [podId, { podId }]));
    for (const a of attached) found.set(a.podId, a.ip ? { podId: a.podId, ip: a.ip } : { podId: a.podId });
    return [...found.values()];
  }

  /** Root, network and runtime spec: the bundle a start or a restore runs from. */
  private async prepare(
    pod: PodRecord,
    image: EnsuredImage,
    timed: StepTimer,
    beforeMount?: () => Promise<unknown>,
  ): Promise<{ ip: string; rootfsDir: string }> {
    const dir = this.podDir(pod.id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await mkdir(join(this.dataDir, 'logs'), { recursive: true, mode: 0o700 });
    const [rootfsDir, net] = await settleAll([
      (beforeMount ? timed('unpackMs', beforeMount) : Promise.resolve()).then(() =>
        timed('mountMs', () => this.rt.rootfs.mount(dir, image.lowers)),
      ),
      timed('netnsMs', () => this.rt.network.attach(pod.id)),
    ]);
    await timed('specMs', async () => {
      const spec = buildRuntimeSpec({
        baseConfig: await readBundleConfig(image.bundleDir),
        imageConfig: image.imageConfig,
        command: pod.spec.command,
        args: pod.spec.args,
        env: pod.spec.env,
        rootfsPath: rootfsDir,
        netnsPath: net.netnsPath,
        cgroupsPath: this.rt.runc.cgroupsPath(pod.id),
        resources: pod.spec.resources,
        hostname: pod.id,
        ...(this.criuConfigPath === undefined ? {} : { criuConfigPath: this.criuConfigPath }),
        podId: pod.id,
      });
      await writeFile(join(dir, 'config.json'), JSON.stringify(spec));
    });
    return { ip: net.ip, rootfsDir };
  }

  private async guarded<T>(podId: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      await this.teardown(podId).catch((e: unknown) =>
        this.logger.error({ podId, err: messageOf(e) }, 'cleanup after a failed start failed'),
      );
      throw error;
    }
  }

  /** Removes the pod's runtime artifacts; keeps its log for the logs endpoint. */
  async teardown(podId: string): Promise<void> {
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['ports', () => this.rt.ports.unexpose(podId)],
      ['container', () => this.rt.runc.remove(podId)],
      ['network', () => this.rt.network.detach(podId)],
      ['rootfs', () => this.rt.rootfs.unmount(this.podDir(podId))],
      ['pod dir', () => rm(this.podDir(podId), { recursive: true, force: true })],
    ];
    const failures: string[] = [];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (error) {
        failures.push(`${what}: ${messageOf(error)}`);
      }
    }
    if (failures.length > 0) {
      this.logger.error({ failures }, 'pod teardown incomplete');
      throw new Error(`teardown of ${podId} incomplete: ${failures.join('; ')}`);
    }
  }
}

/**
 * Promise.all that settles every step before it rejects (with the first
 * failure): the teardown that follows a failure must not race a step still
 * creating what it removes (a netns attached after its detach would leak).
 */
async function settleAll<A, B>(steps: [Promise<A>, Promise<B>]): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled(steps);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}

type StepTimer = (<T>(name: string, step: () => Promise<T>) => Promise<T>) & { readonly steps: Record<string, number> };

/** Runs steps and records how long each took (ms), by name. */
function stepTimer(): StepTimer {
  const steps: Record<string, number> = {};
  const timed = async <T>(name: string, step: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await step();
    } finally {
      steps[name] = Date.now() - started;
    }
  };
  return Object.assign(timed, { steps });
}
