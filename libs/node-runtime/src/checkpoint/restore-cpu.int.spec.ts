import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { needsRoot, projectCriuPath } from '../testing/int-fixture';
import { PodHarness } from '../testing/pod-harness';
import { CheckpointStore, type StoredCheckpoint } from './checkpoint-store';
import { CriuCapability, type CriuCapabilityResult } from './criu-capability';
import { cpuLimitTarget } from './restore-cpu';
import { RuncCheckpointer } from './runc-checkpointer';
import { WritableLayerArchive } from './writable-layer-archive';

const harness = new PodHarness();
const archive = new WritableLayerArchive();
const LOOP = 'i=0; while true; do i=$((i+1)); echo $i > /counter; sleep 0.1; done';
let capability: CriuCapabilityResult;
let checkpointer: RuncCheckpointer;
let stored: StoredCheckpoint;

/** A pod's CPU quota as `quota period` (harness pods: 0.5 CPU). */
async function cpuQuota(podId: string): Promise<string> {
  const cpu = await cpuLimitTarget(harness.runtime.cgroupsPath(podId));
  if (cpu === undefined) throw new Error('this spec needs a cgroup cpu controller (v1 or v2)');
  if (cpu.version === 2) return (await readFile(join(cpu.dir, 'cpu.max'), 'utf8')).trim();
  const read = async (file: string) => (await readFile(join(cpu.dir, file), 'utf8')).trim();
  return `${await read('cpu.cfs_quota_us')} ${await read('cpu.cfs_period_us')}`;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A new pod prepared from the checkpoint's writable layer, running the same command (the restore replaces its process). */
async function target() {
  const pod = await harness.preparePod(harness.images.hello, {}, (podDir) =>
    archive.unpack(stored.layerArchivePath, join(podDir, 'upper')).then(() => undefined),
  );
  const config = JSON.parse(await readFile(join(pod.podDir, 'config.json'), 'utf8')) as { process: { args: string[] } };
  config.process.args = ['sh', '-c', LOOP];
  await writeFile(join(pod.podDir, 'config.json'), JSON.stringify(config));
  return pod;
}

before(async () => {
  if (needsRoot) return;
  await harness.start('wp-rcpu-int');
  capability = await CriuCapability.detect({ criuPath: projectCriuPath, workDir: harness.dir, logger: harness.logger });
  if (!capability.ok) return;
  const criuMode = capability.mode;
  checkpointer = new RuncCheckpointer({ ...harness.runtimeOptions, criuPath: projectCriuPath, ...(criuMode ? { criuMode } : {}) });
  const store = new CheckpointStore({ dataDir: join(harness.dir, 'node'), logger: harness.logger });
  const source = await harness.runPod(harness.images.hello, { command: ['sh', '-c'], args: [LOOP] });
  await waitFor('the counter', async () => (await readFile(join(source.podDir, 'upper', 'counter'), 'utf8').catch(() => '')) !== '');
  const draft = await store.begin('acme', `ckpt-${harness.names.suffix}`);
  await checkpointer.pause(source.podId);
  await archive.archive(join(source.podDir, 'upper'), draft.layerArchivePath);
  await checkpointer.checkpoint(source.podId, draft.imagesDir, { leaveRunning: true });
  await checkpointer.resume(source.podId);
  stored = await draft.commit({ key: `ck1-${'0'.repeat(64)}`, digest: harness.images.hello.digest, podId: source.podId });
  await harness.runtime.stop(source.podId, 200);
});

after(async () => {
  await harness.cleanup.run();
});

describe("a restored pod's CPU quota, set after its readiness probe", { skip: needsRoot }, () => {
  test('deferred: no quota until limitCpu, then the spec’s; calling it again is harmless', async (t) => {
    if (!capability.ok) return t.skip(`needs a CRIU-capable node: ${capability.reason}`);
    const pod = await target();
    const restored = await checkpointer.restore(pod.podId, pod.podDir, stored.imagesDir, pod.logPath, {
      sourcePodId: stored.podId,
      deferCpuLimitMs: 60_000,
    });
    assert.match(await cpuQuota(pod.podId), /^(max|-1) /, 'restored and resumed without the quota');
    await restored.limitCpu();
    assert.equal(await cpuQuota(pod.podId), '50000 100000', "then under its spec's quota (0.5 CPU)");
    await restored.limitCpu();
    assert.equal(await cpuQuota(pod.podId), '50000 100000');
    await harness.runtime.stop(pod.podId, 200);
  });

  test('a caller that never sets it: the quota goes on at the bound all the same', async (t) => {
    if (!capability.ok) return t.skip(`needs a CRIU-capable node: ${capability.reason}`);
    const pod = await target();
    await checkpointer.restore(pod.podId, pod.podDir, stored.imagesDir, pod.logPath, { sourcePodId: stored.podId, deferCpuLimitMs: 1500 });
    assert.match(await cpuQuota(pod.podId), /^(max|-1) /, 'not before the bound');
    await waitFor('the quota at the bound', async () => (await cpuQuota(pod.podId)) === '50000 100000');
    await harness.runtime.stop(pod.podId, 200);
  });
});
