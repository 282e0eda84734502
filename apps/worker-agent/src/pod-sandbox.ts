import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Endpoint, PodRecord } from '@warmpod/domain';
import type { Logger } from '@warmpod/observability';
import { buildRuntimeSpec, readBundleConfig, type ImageCache, type PodNetwork, type PodRootfs, type PortExposer, type RuncRuntime } from '@warmpod/node-runtime';

export interface NodeRuntime {
  cache: ImageCache;
  rootfs: PodRootfs;
  network: PodNetwork;
  runc: RuncRuntime;
  ports: PortExposer;
}

export type CachedImage = Awaited<ReturnType<ImageCache['ensure']>>;

/**
 * Everything one pod holds on this node: overlay root, network namespace,
 * container, exposed ports. `launch` builds it and undoes its own partial
 * work on failure; `teardown` removes whatever exists and can run any time.
 */
export class PodSandboxes {
  constructor(
    private readonly rt: NodeRuntime,
    private readonly dataDir: string,
    private readonly exposeHost: string,
    private readonly logger: Logger,
  ) {}

  podDir(podId: string): string {
    return join(this.dataDir, 'pods', podId);
  }

  logPath(podId: string): string {
    return join(this.dataDir, 'logs', `${podId}.log`);
  }

  async launch(pod: PodRecord, image: CachedImage): Promise<{ endpoints: Endpoint[] }> {
    const dir = this.podDir(pod.id);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await mkdir(join(this.dataDir, 'logs'), { recursive: true, mode: 0o700 });
      const [rootfs, net] = await Promise.all([
        this.rt.rootfs.mount(dir, join(image.bundleDir, 'rootfs')),
        this.rt.network.attach(pod.id),
      ]);
      const spec = buildRuntimeSpec({
        baseConfig: await readBundleConfig(image.bundleDir),
        imageConfig: image.imageConfig,
        command: pod.spec.command,
        args: pod.spec.args,
        env: pod.spec.env,
        rootfsPath: rootfs,
        netnsPath: net.netnsPath,
        cgroupsPath: this.rt.runc.cgroupsPath(pod.id),
        resources: pod.spec.resources,
        hostname: pod.id,
        podId: pod.id,
      });
      await writeFile(join(dir, 'config.json'), JSON.stringify(spec));
      await this.rt.runc.start(pod.id, dir, this.logPath(pod.id));
      const endpoints = await this.rt.ports.expose(pod.id, net.ip, pod.spec.ports, this.exposeHost);
      return { endpoints };
    } catch (error) {
      await this.teardown(pod.id);
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
        failures.push(`${what}: ${(error as Error).message}`);
      }
    }
    if (failures.length > 0) {
      this.logger.error({ failures }, 'pod teardown incomplete');
      throw new Error(`teardown of ${podId} incomplete: ${failures.join('; ')}`);
    }
  }

  async removeLog(podId: string): Promise<void> {
    await rm(this.logPath(podId), { force: true });
  }
}
