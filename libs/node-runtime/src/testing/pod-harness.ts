/**
 * A small real node for the checkpoint and readiness integration specs:
 * local registry with the sample images, image cache, overlay roots, CNI
 * network and runc, each pod started the way the agent starts one.
 * Test code only (not exported from the package).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PodSpec } from '@warmpod/domain';
import { ImageCache, readBundleConfig, type EnsuredImage } from '../image-cache';
import {
  Cleanup,
  registryClient,
  removeDir,
  sampleImages,
  SAMPLE_REPOSITORIES,
  startRegistry,
  tempDir,
  testLogger,
  uniqueTestNames,
  type LocalRegistry,
} from './int-fixture';
import { PodNetwork } from '../pod-network';
import { PodRootfs } from '../pod-rootfs';
import { RuncRuntime, type RuncRuntimeOptions } from '../runc-runtime';
import { buildRuntimeSpec } from '../runtime-spec';

export interface HarnessPod {
  podId: string;
  /** The bundle: config.json, upper/, work/, merged/. */
  podDir: string;
  merged: string;
  ip: string;
  pid: number;
  logPath: string;
}

export type PodProcess = Partial<Pick<PodSpec, 'command' | 'args' | 'env'>>;

export class PodHarness {
  readonly names = uniqueTestNames();
  readonly logger = testLogger();
  readonly cleanup = new Cleanup();
  dir = '';
  /** The local registry the sample images are in; specs push images of their own to it. */
  registry!: LocalRegistry;
  images!: { hello: EnsuredImage; http: EnsuredImage; sleeper: EnsuredImage };
  rootfs!: PodRootfs;
  network!: PodNetwork;
  runtime!: RuncRuntime;
  runtimeOptions!: RuncRuntimeOptions;
  private count = 0;

  async start(prefix: string): Promise<void> {
    this.dir = await tempDir(prefix);
    this.cleanup.add('temp dir', () => removeDir(this.dir));
    const registry = await startRegistry(this.dir);
    this.registry = registry;
    this.cleanup.add('registry', () => registry.stop());
    const digests = await sampleImages(registry.host, join(this.dir, 'build'));
    const cache = new ImageCache({ dataDir: join(this.dir, 'cache'), registry: registryClient(), logger: this.logger });
    const pin = (repo: string, digest: string): string => `${registry.host}/${repo}@${digest}`;
    this.images = {
      hello: await cache.ensure(pin(SAMPLE_REPOSITORIES.hello, digests.hello)),
      http: await cache.ensure(pin(SAMPLE_REPOSITORIES.http, digests.http)),
      sleeper: await cache.ensure(pin(SAMPLE_REPOSITORIES.sleeper, digests.sleeper)),
    };
    this.rootfs = new PodRootfs({ logger: this.logger });
    const { nodeId, bridge, subnet, cgroupParent } = this.names;
    this.network = new PodNetwork({ nodeId, bridge, subnet, dataDir: join(this.dir, 'net'), logger: this.logger });
    this.cleanup.add('network', () => this.network.destroy());
    this.runtimeOptions = { runcRoot: join(this.dir, 'runc'), cgroupParent, logger: this.logger };
    this.runtime = new RuncRuntime(this.runtimeOptions);
    this.cleanup.add('cgroup parent', () => this.runtime.removeCgroupParent());
  }

  /** Mounts, attaches and writes the bundle of a new pod, without starting it. */
  async preparePod(
    image: EnsuredImage,
    podProcess: PodProcess = {},
    beforeMount?: (podDir: string) => Promise<void>,
  ): Promise<Omit<HarnessPod, 'pid'>> {
    const podId = `pod-${this.names.suffix}-${++this.count}`;
    const podDir = join(this.dir, 'pods', podId);
    this.cleanup.add(`unmount ${podId}`, () => this.rootfs.unmount(podDir));
    if (beforeMount) await beforeMount(podDir);
    const merged = await this.rootfs.mount(podDir, image.lowers);
    const { ip, netnsPath } = await this.network.attach(podId);
    this.cleanup.add(`detach ${podId}`, () => this.network.detach(podId));
    const spec = buildRuntimeSpec({
      baseConfig: await readBundleConfig(image.bundleDir),
      imageConfig: image.imageConfig,
      command: podProcess.command ?? [],
      args: podProcess.args ?? [],
      env: podProcess.env ?? {},
      rootfsPath: merged,
      netnsPath,
      cgroupsPath: this.runtime.cgroupsPath(podId),
      resources: { cpu: 0.5, memoryMiB: 64 },
      hostname: podId,
      podId,
    });
    await writeFile(join(podDir, 'config.json'), JSON.stringify(spec));
    this.cleanup.add(`remove ${podId}`, () => this.runtime.remove(podId));
    return { podId, podDir, merged, ip, logPath: join(podDir, 'container.log') };
  }

  async runPod(image: EnsuredImage, podProcess: PodProcess = {}): Promise<HarnessPod> {
    const pod = await this.preparePod(image, podProcess);
    const { pid } = await this.runtime.start(pod.podId, pod.podDir, pod.logPath);
    return { ...pod, pid };
  }
}
