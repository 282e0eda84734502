import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { exists } from '../files';
import { needsRoot, projectCriuPath } from '../testing/int-fixture';
import { PodHarness } from '../testing/pod-harness';
import { CheckpointStore } from './checkpoint-store';
import { CriuCapability, type CriuCapabilityResult } from './criu-capability';
import { writeCriuRuncConfig } from './criu-network-lock';
import { cpuLimitTarget } from './restore-cpu';
import { CriuOperationError, RestoreAbortedError, RuncCheckpointer } from './runc-checkpointer';
import { WritableLayerArchive } from './writable-layer-archive';

const VDSO_ERROR = 'vdso: Unexpected rt vDSO area bounds';
const harness = new PodHarness();
let capability: CriuCapabilityResult;
let checkpointer: RuncCheckpointer;
let store: CheckpointStore;
/** The project's criu behind a wrapper that records the CRIU_FAULT each run got (runc must hand its environment on). */
let recordingCriu: { path: string; faults: string };

async function recordedFaults(): Promise<string[]> {
  return (await readFile(recordingCriu.faults, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

/** A pod's CPU quota as `quota period` (harness pods: 0.5 CPU). */
async function cpuQuota(podId: string): Promise<string> {
  const cpu = await cpuLimitTarget(harness.runtime.cgroupsPath(podId));
  if (cpu === undefined) throw new Error('this spec needs a cgroup cpu controller (v1 or v2)');
  if (cpu.version === 2) return (await readFile(join(cpu.dir, 'cpu.max'), 'utf8')).trim();
  const read = async (file: string) => (await readFile(join(cpu.dir, file), 'utf8')).trim();
  return `${await read('cpu.cfs_quota_us')} ${await read('cpu.cfs_period_us')}`;
}

/** Kernel >= 6.13 with CRIU < 4: the case the notes measured on these machines. */
function vdsoLayoutMismatch(c: CriuCapabilityResult): boolean {
  const [kMajor = 0, kMinor = 0] = c.kernel.split(/[.-]/).map(Number);
  const criuMajor = Number((c.version ?? '').split('.')[0]);
  return (kMajor > 6 || (kMajor === 6 && kMinor >= 13)) && Number.isFinite(criuMajor) && criuMajor < 4;
}

/** A TCP connection to the pod, once its server listens. */
async function connectWhenListening(host: string, port: number): Promise<Socket> {
  return waitFor(`${host}:${port} to listen`, () => {
    return new Promise<Socket | undefined>((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => resolve(socket));
      socket.once('error', () => resolve(undefined));
    });
  });
}

/** Sends one HTTP/1.0 request on an open connection and reads the whole answer. */
function request(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (b: Buffer) => (answer += b.toString()));
    socket.once('end', () => resolve(answer));
    socket.once('error', reject);
    socket.write('GET / HTTP/1.0\r\n\r\n');
  });
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  if (needsRoot) return;
  await harness.start('wp-ckpt-int');
  capability = await CriuCapability.detect({ criuPath: projectCriuPath, workDir: harness.dir, logger: harness.logger });
  recordingCriu = { path: join(harness.dir, 'criu-recording'), faults: join(harness.dir, 'criu-faults.log') };
  await writeFile(
    recordingCriu.path,
    `#!/bin/sh\necho "\${CRIU_FAULT-unset}" >> '${recordingCriu.faults}'\nexec '${projectCriuPath}' "$@"\n`,
  );
  await chmod(recordingCriu.path, 0o755);
  // As an agent does: the measured network lock reaches CRIU through the pods' specs.
  if (capability.networkLock) harness.criuConfigPath = await writeCriuRuncConfig(join(harness.dir, 'criu-conf'), capability.networkLock);
  const criuMode = capability.mode;
  checkpointer = new RuncCheckpointer({ ...harness.runtimeOptions, criuPath: recordingCriu.path, ...(criuMode ? { criuMode } : {}) });
  store = new CheckpointStore({ dataDir: join(harness.dir, 'node'), logger: harness.logger });
});

after(async () => {
  await harness.cleanup.run();
});

describe('checkpoint adapters against real runc', { skip: needsRoot }, () => {
  test('CriuCapability measures this node; kernel >= 6.13 with CRIU < 4 is not capable, for the vDSO layout', (t) => {
    t.diagnostic(`kernel ${capability.kernel}, criu ${capability.version ?? 'none'}: ${capability.ok ? 'capable' : capability.reason}`);
    // The bootstrap's CRIU >= 4.2 works on this machine's kernel: a node using it must be capable.
    if (projectCriuPath !== 'criu') assert.equal(capability.ok, true, capability.reason);
    if (vdsoLayoutMismatch(capability)) {
      assert.equal(capability.ok, false);
      assert.match(
        capability.reason!,
        /^vDSO layout unsupported: kernel .* \(>= 6\.13\) maps \[vvar\], \[vvar_vclock\] and \[vdso\] separately/,
      );
      assert.ok(capability.reason!.includes(VDSO_ERROR), capability.reason);
      assert.ok(capability.reason!.length <= 1000);
    } else if (!capability.ok) {
      assert.ok(capability.reason && capability.reason.length > 0);
    }
  });

  test('a checkpoint that CRIU refuses fails with its reason, leaves no images and keeps the pod running', async (t: TestContext) => {
    t.diagnostic(`criu ${capability.version ?? 'none'}: ${capability.ok ? `capable (${capability.mode})` : capability.reason}`);
    // Where CRIU works, a real refusal: a TCP connection established into the pod, dumped without --tcp-established.
    const pod = await harness.runPod(capability.ok ? harness.images.http : harness.images.sleeper);
    const client = capability.ok ? await connectWhenListening(pod.ip, 8080) : undefined;
    const draft = await store.begin('acme', 'ckpt-host');
    // CRIU_FAULT=130 whatever the node measured: it must reach criu through runc either way.
    const refusing = capability.ok
      ? new RuncCheckpointer({ ...harness.runtimeOptions, criuPath: recordingCriu.path, criuMode: 'no-breakpoints' })
      : checkpointer;
    const faultsBefore = (await recordedFaults()).length;
    const error = await refusing.checkpoint(pod.podId, draft.imagesDir, { leaveRunning: true }).then(
      () => assert.fail('the checkpoint should fail here'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof CriuOperationError, String(error));
    t.diagnostic(error.message);
    assert.match(error.message, new RegExp(`^checkpoint container for pod ${pod.podId} failed: criu: `));
    if (vdsoLayoutMismatch(capability)) {
      assert.ok(error.criuErrors.includes(VDSO_ERROR), error.criuErrors.join('; '));
      assert.ok(error.message.includes(VDSO_ERROR));
    }
    if (capability.ok) {
      // The line that failed, not the RLIMIT_NOFILE error CRIU prints (and survives) on every run here.
      assert.match(error.message, /criu: inet: Connected TCP socket, consider using --tcp-established option\. \(Dumping FAILED\.\)$/);
      assert.doesNotMatch(error.message, /rlimit/);
      const faults = (await recordedFaults()).slice(faultsBefore);
      assert.ok(faults.length > 0 && faults.every((f) => f === '130'), `runc ran criu with CRIU_FAULT=130 each time: ${faults.join(', ')}`);
    }
    assert.ok(error.logTail.length > 0, 'the end of dump.log comes with the error');
    assert.equal(await exists(draft.imagesDir), false, 'no half-written images');
    assert.equal(await exists(`${draft.imagesDir}.work`), false, 'no work dir');
    await draft.abort();
    assert.deepEqual(await readdir(join(store.root, 'acme')), [], 'nothing in the store');
    assert.equal(await checkpointer.status(pod.podId), 'running');
    assert.doesNotThrow(() => process.kill(pod.pid, 0), 'the pod process is alive');
    if (client) {
      // Not frozen, network not left locked: the connection CRIU refused still gets its answer.
      assert.match(await request(client), /^HTTP\/1\.[01] 200/);
    }
    await harness.runtime.stop(pod.podId, 200);
  });

  test("a restore that fails is reported with CRIU's reason, leaves nothing, and the same pod then starts normally", async (t) => {
    const pod = await harness.preparePod(harness.images.sleeper);
    const images = join(harness.dir, 'corrupt-images');
    await mkdir(images, { recursive: true });
    await writeFile(join(images, 'inventory.img'), 'not a CRIU image');
    await writeFile(join(images, 'descriptors.json'), '["/dev/null","pipe:[1]","pipe:[2]"]');
    const error = await checkpointer.restore(pod.podId, pod.podDir, images, pod.logPath).then(
      () => assert.fail('restoring garbage should fail'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof CriuOperationError, String(error));
    t.diagnostic(error.message);
    assert.match(error.message, new RegExp(`^restore container for pod ${pod.podId} failed: runc restore exited with \\d+: `));
    if (!capability.ok && vdsoLayoutMismatch(capability)) assert.ok(error.criuErrors.includes(VDSO_ERROR), error.message);
    assert.equal(
      (await harness.runtime.list()).some((c) => c.id === pod.podId),
      false,
      'no runc state left',
    );
    await assert.rejects(harness.runtime.waitExit(pod.podId), /no such container/, 'no shim files left');

    // The fallback: the same pod id, bundle and log start a normal run.
    const { pid } = await harness.runtime.start(pod.podId, pod.podDir, pod.logPath);
    assert.ok(pid > 0);
    assert.equal(await checkpointer.status(pod.podId), 'running');
    const code = await harness.runtime.stop(pod.podId, 200);
    assert.ok(code === 137 || code === 143, `exit ${code}`);
  });

  test('a restore without CRIU images is refused before anything runs', async () => {
    const pod = await harness.preparePod(harness.images.sleeper);
    await assert.rejects(
      checkpointer.restore(pod.podId, pod.podDir, join(harness.dir, 'no-images'), pod.logPath),
      (e: unknown) => e instanceof CriuOperationError && /holds no CRIU images/.test(e.message),
    );
    await assert.rejects(harness.runtime.waitExit(pod.podId), /no such container/);
  });

  test('a restore whose signal is already aborted is refused with RestoreAbortedError before anything runs', async () => {
    const pod = await harness.preparePod(harness.images.sleeper);
    const images = join(harness.dir, 'aborted-images');
    await mkdir(images, { recursive: true });
    await writeFile(join(images, 'inventory.img'), '');
    const signal = AbortSignal.abort(new Error('stopped by the user'));
    await assert.rejects(
      checkpointer.restore(pod.podId, pod.podDir, images, pod.logPath, { signal }),
      (e: unknown) => e instanceof RestoreAbortedError,
    );
    await assert.rejects(harness.runtime.waitExit(pod.podId), /no such container/);
  });

  test('a restore stopped through its signal is not a failure: RestoreAbortedError, its processes ended, nothing left', async () => {
    // A stand-in runc whose restore hangs, so the stop lands mid-restore.
    const stubDir = join(harness.dir, 'stub');
    await mkdir(stubDir, { recursive: true });
    const stub = join(stubDir, 'runc');
    const pidFile = join(stubDir, 'restore.pid');
    await writeFile(stub, `#!/bin/sh\nfor a in "$@"; do [ "$a" = restore ] && { echo $$ > '${pidFile}'; exec sleep 60; }; done\nexit 0\n`);
    await chmod(stub, 0o755);
    await writeFile(join(stubDir, 'config.json'), JSON.stringify({ linux: { resources: { cpu: { quota: 10000, period: 100000 } } } }));
    const stubbed = new RuncCheckpointer({ ...harness.runtimeOptions, runcPath: stub });
    const images = join(harness.dir, 'stub-images');
    await mkdir(images, { recursive: true });
    await writeFile(join(images, 'inventory.img'), '');
    const podId = `pod-${harness.names.suffix}-abort`;
    const aborter = new AbortController();
    const restoring = stubbed.restore(podId, stubDir, images, join(stubDir, 'container.log'), { signal: aborter.signal });
    const restorePid = await waitFor(
      'the stand-in restore',
      async () => Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10) || undefined,
    );
    aborter.abort(new Error('stopped by the user'));
    await assert.rejects(restoring, (e: unknown) => e instanceof RestoreAbortedError && !(e instanceof CriuOperationError));
    await waitFor('the stand-in restore to end', async () => {
      const stat = await readFile(`/proc/${restorePid}/stat`, 'utf8').catch(() => undefined);
      return stat === undefined || / Z /.test(stat) ? true : undefined;
    });
    assert.equal(await exists(join(`${harness.runtimeOptions.runcRoot}.shim`, podId)), false);
  });

  test("a stopped restore also ends what runc and CRIU leave behind: own-session tasks in the netns, work-dir mounts, runc's state", async () => {
    // CRIU's restored tasks keep the checkpointed session and process group, so killing the shim's group misses
    // them, and a killed CRIU leaves its cgroup yard mounted in the work dir. A stand-in runc does both, then hangs.
    const pod = await harness.preparePod(harness.images.sleeper);
    const stubDir = join(harness.dir, 'stub-leftovers');
    await mkdir(stubDir, { recursive: true });
    const stub = join(stubDir, 'runc');
    const taskPidFile = join(stubDir, 'task.pid');
    const netns = harness.network.netnsPath(pod.podId);
    await writeFile(
      stub,
      [
        '#!/bin/sh',
        'work=; root=; prev=; restore=; for a in "$@"; do ' +
          '[ "$prev" = --work-path ] && work=$a; [ "$prev" = --root ] && root=$a; [ "$a" = restore ] && restore=1; prev=$a; done',
        // As runc answers for a state dir without state.json.
        'for a in "$@"; do [ "$a" = delete ] && { echo "container does not exist" >&2; exit 1; }; done',
        '[ -n "$restore" ] || exit 0',
        // runc creates the container's state dir before CRIU runs; killed, it leaves it without a state.json.
        // ... and its bind mount of the rootfs for CRIU.
        `mkdir -p "$root/${pod.podId}/criu-root" && mount --bind '${pod.merged}' "$root/${pod.podId}/criu-root"`,
        'mkdir -p "$work/.criu.cgyard.test" && mount -t tmpfs cgyard "$work/.criu.cgyard.test"',
        `setsid nsenter --net='${netns}' sleep 60 </dev/null >/dev/null 2>&1 & echo $! > '${taskPidFile}'`,
        'exec sleep 60',
      ].join('\n'),
    );
    await chmod(stub, 0o755);
    await writeFile(join(stubDir, 'config.json'), JSON.stringify({ linux: { resources: { cpu: { quota: 10000, period: 100000 } } } }));
    const stubbed = new RuncCheckpointer({ ...harness.runtimeOptions, runcPath: stub });
    const images = join(harness.dir, 'stub-images');
    await mkdir(images, { recursive: true });
    await writeFile(join(images, 'inventory.img'), '');
    const aborter = new AbortController();
    const restoring = stubbed.restore(pod.podId, pod.podDir, images, pod.logPath, { signal: aborter.signal });
    const taskPid = await waitFor(
      'the stand-in restored task',
      async () => Number.parseInt(await readFile(taskPidFile, 'utf8').catch(() => ''), 10) || undefined,
    );
    const shimDir = join(`${harness.runtimeOptions.runcRoot}.shim`, pod.podId);
    await waitFor('the stand-in cgroup yard', async () =>
      (await readFile('/proc/self/mountinfo', 'utf8')).includes(`${shimDir}/criu-restore/.criu.cgyard.test`) ? true : undefined,
    );
    aborter.abort(new Error('stopped by the user'));
    await assert.rejects(restoring, (e: unknown) => e instanceof RestoreAbortedError);
    const stat = await readFile(`/proc/${taskPid}/stat`, 'utf8').catch(() => undefined);
    assert.ok(stat === undefined || / Z /.test(stat), `the restored task ${taskPid} is gone`);
    const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
    assert.equal(mountinfo.includes(shimDir), false, 'nothing mounted in the shim dir');
    assert.equal(mountinfo.includes(join(harness.runtimeOptions.runcRoot, pod.podId)), false, 'nothing mounted in the runc state dir');
    assert.equal(await exists(shimDir), false, 'no shim files');
    assert.equal(await exists(join(harness.runtimeOptions.runcRoot, pod.podId)), false, 'no runc state dir');
    // The fallback start of the same pod follows at once.
    await harness.runtime.start(pod.podId, pod.podDir, pod.logPath);
    const code = await harness.runtime.stop(pod.podId, 200);
    assert.ok(code === 137 || code === 143, `exit ${code}`);
  });

  test('pause and resume: how a writable layer is archived in step with the CRIU images', async () => {
    const pod = await harness.runPod(harness.images.hello, {
      command: ['sh', '-c'],
      args: ['while true; do date > /now; sleep 0.05; done'],
    });
    await waitFor('the pod to write', async () => ((await exists(join(pod.podDir, 'upper', 'now'))) ? true : undefined));
    await checkpointer.pause(pod.podId);
    assert.equal(await checkpointer.status(pod.podId), 'paused');
    const before = await readFile(join(pod.podDir, 'upper', 'now'), 'utf8');
    const { sizeBytes } = await new WritableLayerArchive().archive(join(pod.podDir, 'upper'), join(harness.dir, 'paused-layer.tar'));
    assert.ok(sizeBytes > 0);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(await readFile(join(pod.podDir, 'upper', 'now'), 'utf8'), before, 'nothing written while paused');
    await checkpointer.resume(pod.podId);
    assert.equal(await checkpointer.status(pod.podId), 'running');
    await harness.runtime.stop(pod.podId, 200);
  });

  test('on a CRIU-capable node: checkpoint leaving the pod running, then a new pod restored from it continues where it was', async (t) => {
    if (!capability.ok) return t.skip(`needs a CRIU-capable node (the bootstrap's .warmpod/criu): ${capability.reason}`);
    const counter = ['sh', '-c', 'echo started > /started; i=0; while true; do i=$((i+1)); echo $i > /counter; sleep 0.1; done'];
    const source = await harness.runPod(harness.images.hello, { command: [counter[0]!, counter[1]!], args: [counter[2]!] });
    const count = async (podDir: string): Promise<number> =>
      Number.parseInt(await readFile(join(podDir, 'upper', 'counter'), 'utf8').catch(() => '0'), 10);
    await waitFor('the counter to reach 10', async () => ((await count(source.podDir)) >= 10 ? true : undefined));

    const draft = await store.begin('acme', `ckpt-${harness.names.suffix}`);
    const archive = new WritableLayerArchive();
    await checkpointer.pause(source.podId);
    await archive.archive(join(source.podDir, 'upper'), draft.layerArchivePath);
    const atCheckpoint = await count(source.podDir);
    await checkpointer.checkpoint(source.podId, draft.imagesDir, { leaveRunning: true });
    await checkpointer.resume(source.podId);
    const stored = await draft.commit({ key: `ck1-${'0'.repeat(64)}`, digest: harness.images.hello.digest, podId: source.podId });
    assert.equal(await cpuQuota(source.podId), '50000 100000', 'the dump lifted the quota only while it ran');
    assert.ok(stored.sizeBytes > 0);
    assert.equal(await checkpointer.status(source.podId), 'running', 'left running');
    await harness.runtime.stop(source.podId, 200);
    const sourceCgroup = join('/sys/fs/cgroup', harness.runtime.cgroupsPath(source.podId));
    assert.equal(await exists(sourceCgroup), false, 'the stopped source pod left no cgroup');

    const target = await harness.preparePod(harness.images.hello, {}, (podDir) =>
      archive.unpack(stored.layerArchivePath, join(podDir, 'upper')).then(() => undefined),
    );
    // The bundle must run the same process; the restore replaces it with the checkpointed one.
    const config = JSON.parse(await readFile(join(target.podDir, 'config.json'), 'utf8')) as { process: { args: string[] } };
    config.process.args = counter;
    await writeFile(join(target.podDir, 'config.json'), JSON.stringify(config));
    const verifiedBefore = { ...checkpointer.verifications };
    const { pid, ms, steps } = await checkpointer.restore(target.podId, target.podDir, stored.imagesDir, target.logPath, {
      sourcePodId: stored.podId,
    });
    assert.deepEqual(
      checkpointer.verifications,
      { hashed: verifiedBefore.hashed, unchanged: verifiedBefore.unchanged + 1 },
      'the images were hashed when the checkpoint was taken: the restore does not hash them again',
    );
    t.diagnostic(`restored in ${ms} ms (criu mode ${capability.mode}): ${JSON.stringify(steps)}`);
    // CRIU's phases from its restore.log come with the steps.
    for (const phase of ['criuKdatMs', 'criuForkMs', 'criuMountsMs', 'criuTasksMs', 'criuResumeMs', 'criuTotalMs'] as const) {
      assert.ok(steps?.[phase] !== undefined && steps[phase] >= 0, `${phase} in ${JSON.stringify(steps)}`);
    }
    assert.ok(steps!.criuTotalMs! > 0, 'CRIU took some time');
    const configPath = harness.criuConfigPath ?? assert.fail('a capable node writes its CRIU config');
    const restoreLog = await readFile(join(`${harness.runtimeOptions.runcRoot}.shim`, target.podId, 'criu-restore', 'restore.log'), 'utf8');
    assert.ok(
      restoreLog.includes(`Parsing config file ${configPath}`),
      "runc handed CRIU the node's config file (the spec's org.criu.config annotation)",
    );
    t.diagnostic(`network lock measured: ${capability.networkLock}; config: ${(await readFile(configPath, 'utf8')).trim()}`);
    const expectedFault = capability.mode === 'no-breakpoints' ? '130' : 'unset';
    assert.ok((await recordedFaults()).length > 0, "runc ran the node's criu");
    assert.deepEqual([...new Set((await recordedFaults()).slice(-2))], [expectedFault], "the node's mode reached criu");
    assert.ok(pid > 0);
    const cgroupOfRestored = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).trim();
    t.diagnostic(`restored pid ${pid} in cgroup ${cgroupOfRestored}`);
    assert.match(
      cgroupOfRestored,
      new RegExp(`:${harness.runtime.cgroupsPath(target.podId)}$`, 'm'),
      "the restored process runs in the new pod's cgroup",
    );
    // runc restored it without the quota (CRIU runs in the pod's cgroup); the pod's own limit is set after.
    assert.equal(await cpuQuota(target.podId), '50000 100000', "the restored pod runs under its spec's CPU quota (0.5 CPU)");
    await waitFor('the restored counter to move on', async () => ((await count(target.podDir)) > atCheckpoint ? true : undefined));
    assert.equal(await readFile(join(target.merged, 'started'), 'utf8'), 'started\n', 'file written before the checkpoint is back');
    assert.equal(await exists(sourceCgroup), false, 'no cgroup of the source pod recreated by the restore is left');
    const code = await harness.runtime.stop(target.podId, 200);
    assert.ok(code === 137 || code === 143, `a restored pod's exit is tracked like a started one's: ${code}`);
  });
});
