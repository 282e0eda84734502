import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildImage, parseSlowInitState, SLOW_INIT_PORT, SLOW_INIT_STATE_PATH, slowInitCommand } from '@warmpod/devkit';
import { createPod, waitForPod, type E2eCluster, type PodJson } from './support';

/**
 * Rule 3 for real, on a CRIU node: a pod with a slow init is checkpointed
 * before its port opens, later pods of its spec restore from it, a broken
 * checkpoint falls back, a stop mid-restore is no failure, a new digest
 * starts cold. Registered inside a suite that owns the cluster
 * (checkpoint.e2e, on the host nodes).
 */

/** The node the cases run on, and how a test reaches into it. */
export interface CheckpointNode {
  id: string;
  /** The nodeSelector that sends the cases' pods there. */
  selector: Record<string, string>;
  /** The host ports its pods are exposed at, watched for an answer before the pod is Running. */
  exposeRange: { from: number; to: number };
  /** Empties the CRIU page images of a checkpoint: a corrupted checkpoint. */
  corruptPages(checkpointId: string): Promise<void>;
  /** Whether the node still holds any file of a checkpoint. */
  holdsCheckpoint(checkpointId: string): Promise<boolean>;
  /** What the node still holds for a pod: container, netns, mount. */
  podLeftovers(podId: string): Promise<string[]>;
}

interface CheckpointedPod extends PodJson {
  checkpointing?: { enabled: boolean; code?: string; reason?: string };
  checkpoint?: { restoredFrom?: string; taken?: string; error?: string };
}

interface CheckpointJson {
  id: string;
  pod: string;
  node: string;
  digest: string;
  state: string;
  sizeBytes: number;
  restoreFailures: number;
  reason?: string;
}

const SLOW_INIT_S = 5;
const ended = (p: { phase: string }) => ['Succeeded', 'Failed', 'Stopped', 'Lost'].includes(p.phase);
const settled = (p: { phase: string }) => p.phase === 'Running' || ended(p);

function slowPod(image: string, selector: Record<string, string>, extra: Record<string, unknown> = {}) {
  return {
    image,
    command: slowInitCommand(SLOW_INIT_S),
    ports: [SLOW_INIT_PORT],
    nodeSelector: selector,
    checkpoint: { enabled: true, condition: { type: 'http', port: SLOW_INIT_PORT, path: SLOW_INIT_STATE_PATH }, timeoutSeconds: 120 },
    ...extra,
  };
}

async function state(address: string): Promise<{ memory: string; file: string }> {
  const res = await fetch(`http://${address}${SLOW_INIT_STATE_PATH}`, { signal: AbortSignal.timeout(20_000) });
  assert.equal(res.status, 200);
  const parsed = parseSlowInitState(await res.text());
  assert.ok(parsed, 'the state script answers');
  return parsed;
}

async function pod(e: E2eCluster, id: string): Promise<CheckpointedPod> {
  return (await (await e.api(`/v1/pods/${id}`)).json()) as CheckpointedPod;
}

async function checkpointRecord(e: E2eCluster, id: string): Promise<CheckpointJson> {
  const res = await e.api(`/v1/checkpoints/${id}`);
  assert.equal(res.status, 200, `GET /v1/checkpoints/${id}`);
  return (await res.json()) as CheckpointJson;
}

async function deleteAndWait(e: E2eCluster, id: string): Promise<void> {
  assert.equal((await e.api(`/v1/pods/${id}`, { method: 'DELETE' })).status, 202);
  await waitForPod(e, id, ended, 120_000);
}

/**
 * Starts a pod and, until it is Running, asks every port the node can
 * expose for an HTTP answer: the first answer's time, against the time the
 * pod was first seen Running, tells whether a port opened before its checkpoint.
 */
async function startWatchingPorts(
  e: E2eCluster,
  node: CheckpointNode,
  body: unknown,
): Promise<{ pod: CheckpointedPod; firstAnswerAt?: number; runningSeenAt: number }> {
  const created = await createPod(e, body);
  let firstAnswerAt: number | undefined;
  const deadline = Date.now() + 240_000;
  for (;;) {
    const current = await pod(e, created.id);
    if (settled(current)) return { pod: current, ...(firstAnswerAt ? { firstAnswerAt } : {}), runningSeenAt: Date.now() };
    if (Date.now() > deadline) throw new Error(`pod did not settle: ${JSON.stringify(current)}`);
    for (let port = node.exposeRange.from; port <= node.exposeRange.to && firstAnswerAt === undefined; port++) {
      const answered = await fetch(`http://127.0.0.1:${port}${SLOW_INIT_STATE_PATH}`, { signal: AbortSignal.timeout(1_000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (answered) firstAnswerAt = Date.now();
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function checkpointCases(ctx: () => { e: E2eCluster; node: CheckpointNode }, timings: Record<string, number | string>): void {
  let image = '';
  let first: { podId: string; checkpointId: string; memory: string; file: string } | undefined;

  test('cold: the slow pod is checkpointed before its port opens, then runs exposed (startMode cold)', async () => {
    const { e, node } = ctx();
    image = `${e.cluster.registryHost}/warmpod/http:latest`;
    const started = Date.now();
    const { pod: running, firstAnswerAt, runningSeenAt } = await startWatchingPorts(e, node, slowPod(image, node.selector));
    timings.coldToRunningMs = Date.now() - started;
    assert.equal(running.phase, 'Running', JSON.stringify(running));
    assert.equal(running.node, node.id);
    assert.deepEqual(running.checkpointing, { enabled: true });
    assert.equal(running.startMode, 'cold');
    assert.ok(running.checkpoint?.taken, JSON.stringify(running.checkpoint));
    // Ports closed through init and checkpoint: the first answer comes once the pod is Running (1.5 s of polling slack).
    if (firstAnswerAt !== undefined)
      assert.ok(firstAnswerAt >= runningSeenAt - 1_500, `answered ${runningSeenAt - firstAnswerAt} ms before Running`);
    assert.ok(Date.now() - started >= SLOW_INIT_S * 1000);

    const ck = await checkpointRecord(e, running.checkpoint.taken);
    assert.equal(ck.state, 'available');
    assert.equal(ck.pod, running.id);
    assert.equal(ck.node, node.id);
    assert.equal(ck.digest, running.image.digest);
    assert.ok(ck.sizeBytes > 0);
    const s = await state(running.endpoints[0]!.address);
    first = { podId: running.id, checkpointId: ck.id, ...s };
    const listed = (await (await e.api(`/v1/checkpoints?pod=${running.id}`)).json()) as { items: CheckpointJson[] };
    assert.deepEqual(
      listed.items.map((c) => c.id),
      [ck.id],
    );
    const other = await e.api(`/v1/checkpoints/${ck.id}`, { token: e.otherToken });
    assert.equal(other.status, 404, "another tenant's checkpoint is not found");
    await deleteAndWait(e, running.id);
  });

  test('restore: a new pod of the same spec restores on the same node, answers at once, memory and file intact', async () => {
    const { e, node } = ctx();
    assert.ok(first, 'needs the cold start');
    const created = await createPod(e, slowPod(image, node.selector));
    const started = Date.now();
    const running = (await waitForPod(e, created.id, settled, 180_000)) as CheckpointedPod;
    timings.restoreToRunningMs = Date.now() - started;
    const restoring = running.timeline['Restoring'];
    if (restoring) timings.restoringToRunningMs = Date.parse(running.timeline['Running'] ?? '') - Date.parse(restoring);
    assert.equal(running.phase, 'Running', JSON.stringify(running));
    assert.equal(running.startMode, 'restored');
    assert.equal(running.checkpoint?.restoredFrom, first.checkpointId);
    assert.ok(running.timeline['Restoring'], 'the pod went through Restoring');
    const s = await state(running.endpoints[0]!.address);
    assert.equal(s.memory, first.memory, 'in-memory state came back');
    assert.equal(s.file, first.file, 'the file written before the checkpoint came back');
    const logs = await (await e.api(`/v1/pods/${running.id}/logs`)).text();
    assert.doesNotMatch(logs, /initialised/, 'no init ran: the output is not the first pod’s');
    assert.equal((await checkpointRecord(e, first.checkpointId)).state, 'available');
    await deleteAndWait(e, running.id);
  });

  test('a corrupted checkpoint: the next start falls back to a normal run and the checkpoint says restore_failed', async () => {
    const { e, node } = ctx();
    assert.ok(first);
    await node.corruptPages(first.checkpointId);
    const created = await createPod(e, slowPod(image, node.selector));
    const running = (await waitForPod(e, created.id, settled, 240_000)) as CheckpointedPod;
    assert.equal(running.phase, 'Running', JSON.stringify(running));
    assert.equal(running.startMode, 'fallback');
    assert.equal(running.checkpoint?.restoredFrom, first.checkpointId);
    assert.match(running.checkpoint?.error ?? '', /restore from .* failed/);
    assert.ok(running.checkpoint?.taken, 'the fallback run is checkpointed in turn');
    const broken = await checkpointRecord(e, first.checkpointId);
    assert.equal(broken.state, 'restore_failed');
    assert.equal(broken.restoreFailures, 1);
    assert.ok(broken.reason, 'the failure is recorded with its reason');
    const s = await state(running.endpoints[0]!.address);
    assert.notEqual(s.memory, first.memory, 'a normal run: new state');
    first = { podId: running.id, checkpointId: running.checkpoint.taken, ...s };
    await deleteAndWait(e, running.id);
  });

  test('stopping a pod mid-restore stops it; the checkpoint is not marked restore_failed', async () => {
    const { e, node } = ctx();
    assert.ok(first);
    const created = await createPod(e, slowPod(image, node.selector));
    await waitForPod(e, created.id, (p) => p.phase === 'Restoring' || settled(p), 180_000);
    assert.equal((await e.api(`/v1/pods/${created.id}`, { method: 'DELETE' })).status, 202);
    const stopped = await waitForPod(e, created.id, ended, 120_000);
    assert.equal(stopped.phase, 'Stopped', JSON.stringify(stopped));
    const ck = await checkpointRecord(e, first.checkpointId);
    assert.equal(ck.state, 'available', JSON.stringify(ck));
    assert.equal(ck.restoreFailures, 0);
    assert.deepEqual(await node.podLeftovers(created.id), [], 'the aborted restore left nothing on the node');
  });

  test('a re-pushed tag (new digest) starts cold and never restores the old checkpoint', async () => {
    const { e, node } = ctx();
    assert.ok(first);
    await buildImage({
      registryHost: e.cluster.registryHost,
      name: 'warmpod/http',
      tag: 'latest',
      workDir: join(e.workDir, 'rebuild'),
      cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'],
      files: { 'www/index.html': `rebuilt ${randomBytes(4).toString('hex')}\n` },
    });
    const created = await createPod(e, slowPod(image, node.selector));
    const running = (await waitForPod(e, created.id, settled, 240_000)) as CheckpointedPod;
    assert.equal(running.phase, 'Running', JSON.stringify(running));
    assert.notEqual(running.image.digest, (await checkpointRecord(e, first.checkpointId)).digest);
    assert.equal(running.startMode, 'cold');
    assert.equal(running.checkpoint?.restoredFrom, undefined);
    assert.notEqual((await state(running.endpoints[0]!.address)).memory, first.memory);
    await deleteAndWait(e, running.id);
  });

  test('DELETE /v1/checkpoints/{id} marks it deleted at once and the node removes its files', async () => {
    const { e, node } = ctx();
    assert.ok(first);
    const checkpointId = first.checkpointId;
    const del = await e.api(`/v1/checkpoints/${checkpointId}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    assert.equal((await checkpointRecord(e, checkpointId)).state, 'deleted');
    const deadline = Date.now() + 60_000;
    while ((await node.holdsCheckpoint(checkpointId)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    assert.equal(await node.holdsCheckpoint(checkpointId), false, 'the node removed the files');
  });
}

/** On a node without working CRIU checkpointing is off with its reason; two GPUs turn it off anywhere. */
export function noCriuNodeCases(ctx: () => { e: E2eCluster; selector: Record<string, string> }): void {
  test('on the host node, checkpointing is off with its reason and the pod runs normally; two GPUs are off too', async () => {
    const { e, selector } = ctx();
    const image = `${e.cluster.registryHost}/warmpod/http:latest`;
    const host = await createPod(e, {
      ...slowPod(image, selector),
      command: ['httpd', '-f', '-p', '8080', '-h', '/www'],
      nodeSelector: selector,
    });
    const running = (await waitForPod(e, host.id, settled, 60_000)) as CheckpointedPod;
    assert.equal(running.phase, 'Running', JSON.stringify(running));
    assert.deepEqual(running.checkpointing, {
      enabled: false,
      code: 'no-criu-node',
      reason: 'no node that fits the pod has a working CRIU',
    });
    assert.notEqual(running.startMode, 'restored');
    assert.equal((await fetch(`http://${running.endpoints[0]!.address}/`, { signal: AbortSignal.timeout(10_000) })).status, 200);
    await deleteAndWait(e, running.id);

    const gpus = await createPod(e, { ...slowPod(image, selector), resources: { cpu: 0.1, memoryMiB: 64, gpu: 2 }, nodeSelector: {} });
    const placed = (await waitForPod(e, gpus.id, (p) => p.phase !== 'Pending', 60_000)) as CheckpointedPod;
    assert.deepEqual(placed.checkpointing, {
      enabled: false,
      code: 'multi-gpu',
      reason: 'the pod asks for 2 GPUs; checkpointing supports at most 1',
    });
    await deleteAndWait(e, gpus.id);
  });
}

/**
 * The rule "a checkpoint taken under one runtime is never restored under
 * another", between two nodes whose CRIU differs (another version: another
 * runtime fingerprint, hence another checkpoint key). A pod of a spec of its
 * own is checkpointed on `from`; the same spec sent to `to` starts without
 * restoring and leaves the checkpoint untouched; sent to `from` again, it
 * restores (so the checkpoint was restorable all along: `to` kept the rule,
 * it did not meet a broken checkpoint).
 */
export function crossRuntimeCases(
  ctx: () => { e: E2eCluster; from: CheckpointNode; to: { id: string; selector: Record<string, string> } },
  timings: Record<string, number | string>,
  skip: string | false,
): void {
  test('a checkpoint taken under one CRIU runtime is never restored under another; the same spec starts cold there', { skip }, async () => {
    const { e, from, to } = ctx();
    const image = `${e.cluster.registryHost}/warmpod/http:latest`;
    // A spec of this case only: the other cases' checkpoints are not candidates.
    const env = { WARMPOD_CASE: `cross-runtime-${randomBytes(3).toString('hex')}` };

    const source = (await waitForPod(
      e,
      (await createPod(e, slowPod(image, from.selector, { env }))).id,
      settled,
      240_000,
    )) as CheckpointedPod;
    assert.equal(source.phase, 'Running', JSON.stringify(source));
    assert.equal(source.node, from.id);
    assert.equal(source.startMode, 'cold');
    assert.ok(source.checkpoint?.taken, JSON.stringify(source.checkpoint));
    const checkpointId = source.checkpoint.taken;
    assert.equal((await checkpointRecord(e, checkpointId)).state, 'available');
    await deleteAndWait(e, source.id);

    const started = Date.now();
    const other = (await waitForPod(e, (await createPod(e, slowPod(image, to.selector, { env }))).id, settled, 240_000)) as CheckpointedPod;
    timings.otherRuntimeColdToRunningMs = Date.now() - started;
    assert.equal(other.phase, 'Running', JSON.stringify(other));
    assert.equal(other.node, to.id);
    assert.equal(other.image.digest, source.image.digest, 'same image, same spec: only the runtime differs');
    assert.equal(other.startMode, 'cold', JSON.stringify(other));
    assert.equal(other.checkpoint?.restoredFrom, undefined, 'no restore was attempted');
    assert.equal(other.timeline['Restoring'], undefined, 'the pod never went through Restoring');
    // What the other runtime made of its own checkpoint (CRIU 4.1.1 cannot dump a TCP socket on kernels >= 6.16).
    timings.otherRuntimeCheckpoint = other.checkpoint?.taken ? 'taken' : (other.checkpoint?.error ?? 'none').slice(0, 200);
    const untouched = await checkpointRecord(e, checkpointId);
    assert.equal(untouched.state, 'available', JSON.stringify(untouched));
    assert.equal(untouched.restoreFailures, 0);
    await deleteAndWait(e, other.id);

    const again = (await waitForPod(
      e,
      (await createPod(e, slowPod(image, from.selector, { env }))).id,
      settled,
      240_000,
    )) as CheckpointedPod;
    assert.equal(again.phase, 'Running', JSON.stringify(again));
    assert.equal(again.node, from.id);
    assert.equal(again.startMode, 'restored', 'under its own runtime the checkpoint restores');
    assert.equal(again.checkpoint?.restoredFrom, checkpointId);
    await deleteAndWait(e, again.id);
  });
}
