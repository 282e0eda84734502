/**
 * Restore profiler: a real slow-init HTTP pod (warmpod/http) started the way
 * the agent starts one, checkpointed the way PodCheckpoints takes one, then
 * restored N times the way PodSandboxes.restore does it, printing the median
 * time of every step (CRIU's phases from its restore.log included) and
 * checking each restored pod serves the checkpointed in-memory state.
 *
 *   node libs/node-runtime/dist/testing/restore-profile.js [N] [INIT_SECONDS] [LOG_DIR] [CPU]
 *
 * Needs root. It checkpoints with the project's CRIU (the bootstrap's
 * `.warmpod/criu`, else `criu` on PATH), given to runc as `--criu` like the
 * agent does. LOG_DIR keeps the first restore.log of each variant.
 */
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_RESOURCES, type CheckpointCondition } from '@warmpod/domain';
import {
  markdownTable,
  parseSlowInitState,
  restoreBreakdownRows,
  SLOW_INIT_PORT,
  SLOW_INIT_STATE_PATH,
  slowInitCommand,
  type RestoreTimings,
} from '@warmpod/devkit';
import { CheckpointStore, type StoredCheckpoint } from '../checkpoint/checkpoint-store';
import { CriuKdatCache } from '../checkpoint/criu-kdat-cache';
import { RuncCheckpointer } from '../checkpoint/runc-checkpointer';
import { WritableLayerArchive } from '../checkpoint/writable-layer-archive';
import { readBundleConfig } from '../image-cache';
import { ReadinessProbe } from '../readiness/readiness-probe';
import { buildRuntimeSpec } from '../runtime-spec';
import { projectCriuPath } from './int-fixture';
import { PodHarness } from './pod-harness';

const N = Number(process.argv[2] ?? 5);
const INIT_SECONDS = Number(process.argv[3] ?? 2);
const CONDITION: CheckpointCondition = { type: 'http', port: SLOW_INIT_PORT, path: SLOW_INIT_STATE_PATH };

const KEEP_LOGS = process.argv[4] || undefined;
/** The pods' CPU limit in cores: by default a pod's default (0.1), as the agent runs most pods. */
const CPU = Number(process.argv[5] ?? DEFAULT_RESOURCES.cpu);

const harness = new PodHarness();

async function fetchState(ip: string): Promise<string | undefined> {
  const body = await fetch(`http://${ip}:${SLOW_INIT_PORT}${SLOW_INIT_STATE_PATH}`, { signal: AbortSignal.timeout(3000) }).then(
    (r) => r.text(),
    () => '',
  );
  return parseSlowInitState(body)?.memory;
}

/** A probe that notes when it first succeeded. */
class TimedProbe extends ReadinessProbe {
  firstOk: number | undefined;
  override async probeOnce(...args: Parameters<ReadinessProbe['probeOnce']>): ReturnType<ReadinessProbe['probeOnce']> {
    const outcome = await super.probeOnce(...args);
    if (outcome.ok && this.firstOk === undefined) this.firstOk = performance.now();
    return outcome;
  }
}

async function checkpointSource(
  checkpointer: RuncCheckpointer,
  archive: WritableLayerArchive,
): Promise<{ stored: StoredCheckpoint; token: string }> {
  const command = slowInitCommand(INIT_SECONDS);
  const source = await harness.runPod(harness.images.http, { command: command.slice(0, 2), args: command.slice(2) });
  const probe = new ReadinessProbe({ runcRoot: harness.runtimeOptions.runcRoot });
  await probe.waitUntilReady({ podId: source.podId, ip: source.ip, rootfsDir: source.merged }, CONDITION, { timeoutMs: 60_000 });
  const token = await fetchState(source.ip);
  if (token === undefined) throw new Error('the source pod serves no state');
  const store = new CheckpointStore({ dataDir: join(harness.dir, 'node'), logger: harness.logger });
  const draft = await store.begin('acme', `ckpt-${harness.names.suffix}`);
  await checkpointer.pause(source.podId);
  await archive.archive(join(source.podDir, 'upper'), draft.layerArchivePath);
  await checkpointer.checkpoint(source.podId, draft.imagesDir, { leaveRunning: true });
  await checkpointer.resume(source.podId);
  const stored = await draft.commit({ key: `ck1-${'0'.repeat(64)}`, digest: harness.images.http.digest, podId: source.podId });
  await harness.runtime.stop(source.podId, 200);
  return { stored, token };
}

/** What a variant changes in the restore path, so variants run side by side in one session. */
interface Variant {
  name: string;
  /** CRIU's kernel-feature cache provided (CriuKdatCache). */
  kdat: boolean;
  /** Layer unpack -> overlay mount, netns and checksum verify run at once (PodSandboxes.restore now). */
  overlap: boolean;
  probeIntervalMs: number;
  /** CRIU restores without the pod's CPU quota (RuncCheckpointer's liftCpuQuota). */
  liftCpuQuota: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'before', kdat: false, overlap: false, probeIntervalMs: 50, liftCpuQuota: false },
  { name: '+kdat, overlap', kdat: true, overlap: true, probeIntervalMs: 10, liftCpuQuota: false },
  { name: 'after (+no CPU quota in CRIU)', kdat: true, overlap: true, probeIntervalMs: 10, liftCpuQuota: true },
];

/** One restore, step by step as PodSandboxes.restore and PodSupervisor run it; then the pod is removed. */
async function restoreOnce(
  i: number,
  variant: Variant,
  checkpointer: RuncCheckpointer,
  archive: WritableLayerArchive,
  stored: StoredCheckpoint,
  token: string,
): Promise<RestoreTimings> {
  const podId = `r-${harness.names.suffix}-${i}`;
  const podDir = join(harness.dir, 'pods', podId);
  const image = harness.images.http;
  const t: RestoreTimings = {};
  const since = (from: number): number => performance.now() - from;
  harness.cleanup.add(`pod dir ${podId}`, () => rm(podDir, { recursive: true, force: true }));
  harness.cleanup.add(`unmount ${podId}`, () => harness.rootfs.unmount(podDir));
  harness.cleanup.add(`detach ${podId}`, () => harness.network.detach(podId));
  harness.cleanup.add(`remove ${podId}`, () => harness.runtime.remove(podId));
  const start = performance.now();

  let step = performance.now();
  const unpack = (): Promise<unknown> =>
    archive.unpack(stored.layerArchivePath, join(podDir, 'upper')).then(() => (t.unpackMs = since(step)));
  const mount = (): Promise<string> => harness.rootfs.mount(podDir, image.lowers).then((m) => ((t.mountMs = since(mounting)), m));
  const attach = () => harness.network.attach(podId).then((n) => ((t.netnsMs = since(step)), n));
  let mounting = step;
  let merged: string;
  let net: Awaited<ReturnType<typeof attach>>;
  if (variant.overlap) {
    const verify = checkpointer.verifyImages(podId, stored.imagesDir).then(() => (t.verifyMs = since(step)));
    [merged, net] = await Promise.all([unpack().then(() => ((mounting = performance.now()), mount())), attach(), verify]);
  } else {
    await unpack();
    step = mounting = performance.now();
    [merged, net] = await Promise.all([mount(), attach()]);
  }
  t.prepareMs = since(start);
  step = performance.now();
  const command = slowInitCommand(INIT_SECONDS);
  const spec = buildRuntimeSpec({
    baseConfig: await readBundleConfig(image.bundleDir),
    imageConfig: image.imageConfig,
    command: command.slice(0, 2),
    args: command.slice(2),
    env: {},
    rootfsPath: merged,
    netnsPath: net.netnsPath,
    cgroupsPath: harness.runtime.cgroupsPath(podId),
    resources: { cpu: CPU, memoryMiB: 64 },
    hostname: podId,
    podId,
  });
  await writeFile(join(podDir, 'config.json'), JSON.stringify(spec));
  t.specMs = since(step);

  const restored = await checkpointer.restore(podId, podDir, stored.imagesDir, join(podDir, 'container.log'), {
    sourcePodId: stored.podId,
    imagesVerified: variant.overlap,
  });
  // CRIU's phases (from its restore.log) come with the restore's steps.
  const { verifyMs, ...steps } = restored.steps ?? {};
  Object.assign(t, steps, variant.overlap ? {} : { verifyMs });
  const criuLog = join(`${harness.runtimeOptions.runcRoot}.shim`, podId, 'criu-restore', 'restore.log');
  if (t.criuTotalMs !== undefined && t.runcMs !== undefined) t.runcOwnMs = t.runcMs - t.criuTotalMs;
  const keep = KEEP_LOGS;
  if (keep && i < VARIANTS.length)
    await mkdir(keep, { recursive: true }).then(() => copyFile(criuLog, join(keep, `${i}-${variant.name.replace(/\W+/g, '_')}.log`)));

  step = performance.now();
  const probe = new TimedProbe({ runcRoot: harness.runtimeOptions.runcRoot });
  await probe.waitUntilReady({ podId, ip: net.ip, rootfsDir: merged }, CONDITION, {
    timeoutMs: 30_000,
    successThreshold: 2,
    intervalMs: variant.probeIntervalMs,
  });
  t.firstProbeMs = (probe.firstOk ?? Number.NaN) - step;
  t.readyMs = since(step);
  t.totalMs = since(start);

  const served = await fetchState(net.ip);
  if (served !== token) throw new Error(`restore ${i} serves ${served ?? 'nothing'}, not the checkpointed ${token}`);
  await harness.runtime.stop(podId, 200);
  await harness.runtime.remove(podId);
  await harness.network.detach(podId);
  await harness.rootfs.unmount(podDir);
  await rm(podDir, { recursive: true, force: true });
  return t;
}

async function main(): Promise<void> {
  await harness.start('wp-restore-profile');
  const checkpointer = new RuncCheckpointer({ ...harness.runtimeOptions, criuPath: projectCriuPath });
  const throttled = new RuncCheckpointer({ ...harness.runtimeOptions, criuPath: projectCriuPath, liftCpuQuota: false });
  const archive = new WritableLayerArchive();
  const { stored, token } = await checkpointSource(checkpointer, archive);
  console.log(`checkpoint ${stored.sizeBytes} bytes; ${N} restores per variant, variants in turn`);
  const kdat = new CriuKdatCache({ dir: harness.dir, criuPath: projectCriuPath, logger: harness.logger });
  harness.cleanup.add('kdat cache', () => kdat.release());
  const runs = new Map<string, RestoreTimings[]>(VARIANTS.map((v) => [v.name, []]));
  for (let i = 0; i < N; i++) {
    for (const variant of VARIANTS) {
      if (variant.kdat && (await kdat.provide()) === 'unavailable') throw new Error('no kdat cache');
      try {
        const runner = variant.liftCpuQuota ? checkpointer : throttled;
        const t = await restoreOnce(i * VARIANTS.length + VARIANTS.indexOf(variant), variant, runner, archive, stored, token);
        runs.get(variant.name)!.push(t);
        console.log(`${variant.name} #${i}: ${t.totalMs!.toFixed(0)} ms to ready`);
      } finally {
        await kdat.release();
      }
    }
  }
  console.log(markdownTable(restoreBreakdownRows(VARIANTS.map((v) => ({ name: v.name, runs: runs.get(v.name)! })))));
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => harness.cleanup.run().catch((error: unknown) => console.error(error)));
