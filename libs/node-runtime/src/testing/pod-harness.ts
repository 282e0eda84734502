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
  sampleImages,
  SAMPLE_REPOSITORIES,
  startScratchRegistry,
  testLogger,
  uniqueTestNames,
  type LocalRegistry,
} from './int-fixture';
import { PodNetwork } from '../pod-network';
import { PodRootfs } from '../pod-rootfs';
import { RuncRuntime, type RuncRuntimeOptions } from '../runc-runtime';
import { buildRuntimeSpec } from '../runtime-spec';

/** The sample images, each pulled into a node's cache by digest. */
export interface SampleImages {
  hello: EnsuredImage;
  http: EnsuredImage;
  sleeper: EnsuredImage;
}

/** Builds and pushes the sample images to the registry at `registryHost` and has `cache` pull each one. */
export async function cacheSampleImages(cache: ImageCache, registryHost: string, buildDir: string): Promise<SampleImages> {
  const digests = await sampleImages(registryHost, buildDir);
  const pin = (repo: string, digest: string): string => `${registryHost}/${repo}@${digest}`;
  return {
    hello: await cache.ensure(pin(SAMPLE_REPOSITORIES.hello, digests.hello)),
    http: await cache.ensure(pin(SAMPLE_REPOSITORIES.http, digests.http)),
    sleeper: await cache.ensure(pin(SAMPLE_REPOSITORIES.sleeper, digests.sleeper)),
  };
}

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
  images!: SampleImages;
  rootfs!: PodRootfs;
  network!: PodNetwork;
  runtime!: RuncRuntime;
  runtimeOptions!: RuncRuntimeOptions;
  /** The CRIU config runc hands to CRIU for the pods prepared from now on, as an agent sets it (writeCriuRuncConfig). */
  criuConfigPath: string | undefined;
  private count = 0;

  async start(prefix: string): Promise<void> {
    const { dir, registry } = await startScratchRegistry(prefix, this.cleanup);
    this.dir = dir;
    this.registry = registry;
    const cache = new ImageCache({ dataDir: join(this.dir, 'cache'), registry: registryClient(), logger: this.logger });
    this.images = await cacheSampleImages(cache, registry.host, join(this.dir, 'build'));
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
      ...(this.criuConfigPath === undefined ? {} : { criuConfigPath: this.criuConfigPath }),
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
