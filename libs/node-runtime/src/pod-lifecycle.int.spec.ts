import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { PodSpec } from '@warmpod/domain';
import { ImageCache, readBundleConfig, type EnsuredImage } from './image-cache';
import {
  Cleanup,
  elapsedMs,
  HTTP_SAMPLE_BODY,
  needsRoot,
  registryClient,
  testLogger,
  uniqueTestNames,
  type LocalRegistry,
  startScratchRegistry,
} from './testing/int-fixture';
import { cacheSampleImages, type SampleImages } from './testing/pod-harness';
import { ipInSubnet } from './ipv4';
import { isMountPoint, readMounts } from './mountinfo';
import { PodNetwork } from './pod-network';
import { PodRootfs } from './pod-rootfs';
import { PortExposer } from './port-exposer';
import { RuncRuntime } from './runc-runtime';
import { buildRuntimeSpec } from './runtime-spec';
import { exists } from './files';

const names = uniqueTestNames();
const logger = testLogger();
const cleanup = new Cleanup();
let dir: string;
let registry: LocalRegistry;
let images: SampleImages;
let rootfs: PodRootfs;
let network: PodNetwork;
let runtime: RuncRuntime;
let exposer: PortExposer;
const timings: Record<string, number[]> = { mount: [], attach: [], start: [] };

interface RunningPod {
  podId: string;
  podDir: string;
  ip: string;
  pid: number;
  logPath: string;
}

/** What the agent does for a start, step by step, with every step undone in `after`. */
let podCount = 0;

async function runPod(image: EnsuredImage, podProcess: Partial<Pick<PodSpec, 'command' | 'args' | 'env'>> = {}): Promise<RunningPod> {
  const podId = `pod-${names.suffix}-${++podCount}`;
  const podDir = join(dir, 'pods', podId);
  let t = process.hrtime.bigint();
  const merged = await rootfs.mount(podDir, image.lowers);
  timings.mount!.push(elapsedMs(t));
  cleanup.add(`unmount ${podId}`, () => rootfs.unmount(podDir));
  t = process.hrtime.bigint();
  const { ip, netnsPath } = await network.attach(podId);
  timings.attach!.push(elapsedMs(t));
  cleanup.add(`detach ${podId}`, () => network.detach(podId));
  const baseConfig = await readBundleConfig(image.bundleDir);
  const spec = buildRuntimeSpec({
    baseConfig,
    imageConfig: image.imageConfig,
    command: podProcess.command ?? [],
    args: podProcess.args ?? [],
    env: podProcess.env ?? {},
    rootfsPath: merged,
    netnsPath,
    cgroupsPath: runtime.cgroupsPath(podId),
    resources: { cpu: 0.5, memoryMiB: 64 },
    hostname: podId,
    podId,
  });
  await writeFile(join(podDir, 'config.json'), JSON.stringify(spec));
  const logPath = join(podDir, 'container.log');
  cleanup.add(`remove ${podId}`, () => runtime.remove(podId));
  t = process.hrtime.bigint();
  const { pid } = await runtime.start(podId, podDir, logPath);
  timings.start!.push(elapsedMs(t));
  return { podId, podDir, ip, pid, logPath };
}

/** GET with retries until the pod's server is up (process start-up, bounded). */
async function httpGet(url: string, deadlineMs = 5000): Promise<string> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      return await res.text();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

before(async () => {
  if (needsRoot) return;
  ({ dir, registry } = await startScratchRegistry('wp-pod-int', cleanup));
  const cache = new ImageCache({ dataDir: join(dir, 'cache'), registry: registryClient(), logger });
  images = await cacheSampleImages(cache, registry.host, join(dir, 'build'));
  rootfs = new PodRootfs({ logger });
  network = new PodNetwork({ nodeId: names.nodeId, bridge: names.bridge, subnet: names.subnet, dataDir: join(dir, 'net'), logger });
  cleanup.add('network', () => network.destroy());
  runtime = new RuncRuntime({ runcRoot: join(dir, 'runc'), cgroupParent: names.cgroupParent, logger });
  cleanup.add('cgroup parent', () => runtime.removeCgroupParent());
  exposer = new PortExposer({ logger });
  cleanup.add('port exposer', () => exposer.closeAll());
});

after(async () => {
  const median = (xs: number[]): string => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1) : '-');
  if (timings.start!.length) {
    console.log(
      `median ms: mount ${median(timings.mount!)}, attach ${median(timings.attach!)}, start ${median(timings.start!)} (n=${timings.start!.length})`,
    );
  }
  await cleanup.run();
});

test('a pod runs to exit 0 with pod env over image env, output in its log', { skip: needsRoot }, async () => {
  const pod = await runPod(images.hello, { env: { GREETING: 'hi from the test' } });
  assert.equal(await runtime.waitExit(pod.podId), 0);
  const log = await readFile(pod.logPath, 'utf8');
  assert.match(log, /hello from warmpod/);
  assert.match(log, /hi from the test/);
});

test('a failing command reports its exit code and keeps its writes in the upper layer', { skip: needsRoot }, async () => {
  const pod = await runPod(images.hello, { command: ['sh', '-c'], args: ['echo written > /marker; echo failing >&2; exit 3'] });
  assert.equal(await runtime.waitExit(pod.podId), 3);
  assert.match(await readFile(pod.logPath, 'utf8'), /failing/);
  assert.equal(await readFile(join(pod.podDir, 'upper', 'marker'), 'utf8'), 'written\n');
  for (const name of images.hello.lowers.names) {
    assert.equal(await exists(join(images.hello.lowers.dir, name, 'marker')), false, 'the image layers are untouched');
  }
  const merged = join(pod.podDir, 'merged');
  assert.equal(await rootfs.mount(pod.podDir, images.hello.lowers), merged, 'mounting twice is a no-op');
  assert.equal((await readMounts()).filter((m) => m.mountPoint === merged).length, 1);
  await rootfs.unmount(pod.podDir);
  await rootfs.unmount(pod.podDir);
  assert.equal(await isMountPoint(join(pod.podDir, 'merged')), false);
});

test('a command that cannot start rejects start with runc output', { skip: needsRoot }, async () => {
  await assert.rejects(
    runPod(images.hello, { command: ['/no/such/binary'] }),
    /start container for pod .* failed: runc exited with \d+ before the container started: .*no such file/is,
  );
});

test(
  'the pod gets an address in the subnet and serves HTTP to the host, directly and through an exposed port',
  { skip: needsRoot },
  async () => {
    const pod = await runPod(images.http);
    assert.ok(ipInSubnet(pod.ip, names.subnet), `${pod.ip} is in ${names.subnet}`);
    assert.match(await httpGet(`http://${pod.ip}:8080/`), new RegExp(HTTP_SAMPLE_BODY));
    const attached = await network.listAttached();
    assert.ok(attached.some((a) => a.podId === pod.podId && a.ip === pod.ip));

    const [endpoint] = await exposer.expose(pod.podId, pod.ip, [8080]);
    assert.equal(endpoint!.containerPort, 8080);
    assert.match(endpoint!.address, /^127\.0\.0\.1:\d+$/);
    assert.match(await httpGet(`http://${endpoint!.address}/`), new RegExp(HTTP_SAMPLE_BODY));
    assert.deepEqual(await exposer.expose(pod.podId, pod.ip, [8080]), [endpoint], 'exposing twice keeps the endpoint');
    await exposer.unexpose(pod.podId);
    await assert.rejects(fetch(`http://${endpoint!.address}/`));

    const code = await runtime.stop(pod.podId, 300);
    assert.ok(code === 137 || code === 143, `exit ${code}`);
    await network.detach(pod.podId);
    await network.detach(pod.podId);
    assert.equal(
      (await network.listAttached()).some((a) => a.podId === pod.podId),
      false,
    );
  },
);

test('a sleeper is listed, stopped with 128+signal, removed, and its exit survives an agent restart', { skip: needsRoot }, async () => {
  const pod = await runPod(images.sleeper);
  const listed = (await runtime.list()).find((c) => c.id === pod.podId);
  assert.equal(listed?.status, 'running');
  assert.equal(listed?.pid, pod.pid);
  assert.deepEqual(await runtime.start(pod.podId, pod.podDir, pod.logPath), { pid: pod.pid }, 'starting twice is a no-op');
  const cgroupPath = runtime.cgroupsPath(pod.podId);
  assert.match(await readFile(`/proc/${pod.pid}/cgroup`, 'utf8'), new RegExp(`:${cgroupPath}$`, 'm'));
  const v1Limit = `/sys/fs/cgroup/memory${cgroupPath}/memory.limit_in_bytes`;
  const limitFile = (await exists(v1Limit)) ? v1Limit : `/sys/fs/cgroup${cgroupPath}/memory.max`;
  assert.equal((await readFile(limitFile, 'utf8')).trim(), String(64 * 1024 * 1024));

  // A fresh runtime object stands in for a restarted agent.
  const restarted = new RuncRuntime({ runcRoot: join(dir, 'runc'), cgroupParent: names.cgroupParent, logger });
  const exitSeenAfterRestart = restarted.waitExit(pod.podId);
  const code = await runtime.stop(pod.podId, 300);
  assert.ok(code === 137 || code === 143, `exit ${code}`);
  assert.equal(await exitSeenAfterRestart, code);

  await runtime.remove(pod.podId);
  await runtime.remove(pod.podId);
  assert.equal(
    (await runtime.list()).some((c) => c.id === pod.podId),
    false,
  );
  await assert.rejects(runtime.waitExit(pod.podId), /no such container/);
});
