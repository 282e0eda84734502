import { readFile } from 'node:fs/promises';
import { parseSlowInitState, SLOW_INIT_PORT, SLOW_INIT_STATE_PATH, slowInitCommand } from '@warmpod/devkit';
import { agentStepsFromLog, checkpointSchema, podSchema, restoreStepsFromLog, type Checkpoint, type Pod } from './checkpoint-api';

/** One kind of slow-init pod the benchmark measures. */
export interface PodKind {
  /** Column heading, e.g. `5 s init`. */
  name: string;
  /** Suffix of its result names, e.g. `5s`, `256mib`. */
  key: string;
  initSeconds: number;
  /** In-memory state built during init (0: none). */
  stateMiB: number;
  resources?: { cpu: number; memoryMiB: number };
}

/** One restore, step by step (ms), from the pod's timeline, the agent's log and the client. */
export interface RestoreBreakdown {
  toRestoringMs: number;
  restoringToRunningMs: number;
  /** The agent's own steps (its `pod restore steps` line); prepare's parts overlap. */
  prepareMs?: number;
  unpackMs?: number;
  mountMs?: number;
  netnsMs?: number;
  verifyMs?: number;
  specMs?: number;
  runcRestoreMs?: number;
  readinessMs?: number;
  readinessProbes?: number;
  exposeMs?: number;
  recordMs?: number;
  /** Restoring -> Running not in the steps above: the Restoring and Running writes, the hold on the files. */
  agentOtherMs?: number;
  runcMs?: number;
  criuKdatMs?: number;
  criuForkMs?: number;
  criuMountsMs?: number;
  criuTasksMs?: number;
  criuResumeMs?: number;
  criuTotalMs?: number;
  runcOwnMs?: number;
  resumeMs?: number;
  adoptMs?: number;
  /** In RuncCheckpointer.restore, outside runc: the restore bundle, directories, the cgroup lookup. */
  checkpointerOwnMs?: number;
  runningToAnswerMs: number;
  /** Running written -> the client's GET sees it. */
  runningSeenMs: number;
  /** Running seen -> the state page answered through the exposed port. */
  answerMs: number;
  totalMs: number;
}

export interface KindRuns {
  kind: PodKind;
  coldMs: number[];
  restoreMs: number[];
  /** Restore to ready on a node of the same runtime that fetched the artifact from the registry first. */
  remoteMs: number[];
  /** Checkpoint pushed -> artifact recorded (after the on-demand checkpoint was available). */
  pushMs: number[];
  checkpointMs: number[];
  sizes: number[];
  breakdowns: RestoreBreakdown[];
  /** Restores that served the cold pod's in-memory token. */
  stateKept: number;
  /** kB the state holder had resident after each restore (pods with state only). */
  heldKiB: number[];
}

export interface CheckpointBenchContext {
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
  registryHost: string;
  nodeSelector: Record<string, string>;
  /** A second node of the same runtime: restores there fetch the checkpoint from the registry. */
  remoteNodeSelector: Record<string, string>;
  /** The agent log of the node the pods run on (the bench's own cluster). */
  nodeLogPath: string;
  log(line: string): void;
}

const ENDED = ['Succeeded', 'Failed', 'Stopped', 'Lost'];
const READY_TIMEOUT_MS = 600_000;
/** One long poll of `GET /v1/pods/{id}?wait=Ready` (the gateway's limit is 60). */
const WAIT_SECONDS = 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One plain pod of the sample image to Running and gone: the node has the image before any measured cold start. */
export async function pullFirst(ctx: CheckpointBenchContext, nodeSelector = ctx.nodeSelector): Promise<void> {
  const pod = podSchema.parse(
    await ctx.call<unknown>('POST', '/v1/pods', { image: `${ctx.registryHost}/warmpod/http:latest`, nodeSelector }),
  );
  let phase = pod.phase;
  while (phase !== 'Running') {
    if (ENDED.includes(phase)) throw new Error(`warm-up pod ${pod.id} ended ${phase}`);
    await sleep(50);
    phase = podSchema.parse(await ctx.call<unknown>('GET', `/v1/pods/${pod.id}`)).phase;
  }
  await ctx.call('DELETE', `/v1/pods/${pod.id}`);
  while (!ENDED.includes(podSchema.parse(await ctx.call<unknown>('GET', `/v1/pods/${pod.id}`)).phase)) await sleep(50);
}

/** RUNS x (cold start to ready, on-demand checkpoint of it, restore on the same node to ready) for one pod kind. */
export async function measureKind(ctx: CheckpointBenchContext, kind: PodKind, runs: number): Promise<KindRuns> {
  const { call } = ctx;
  const getPod = async (id: string): Promise<Pod> => podSchema.parse(await call<unknown>('GET', `/v1/pods/${id}`));
  const getCheckpoint = async (id: string): Promise<Checkpoint> =>
    checkpointSchema.parse(await call<unknown>('GET', `/v1/checkpoints/${id}`));
  const spec = (enabled: boolean, nodeSelector = ctx.nodeSelector) => ({
    image: `${ctx.registryHost}/warmpod/http:latest`,
    command: slowInitCommand(kind.initSeconds, { stateMiB: kind.stateMiB }),
    ports: [SLOW_INIT_PORT],
    nodeSelector,
    ...(kind.resources ? { resources: kind.resources } : {}),
    checkpoint: { enabled, condition: { type: 'http', port: SLOW_INIT_PORT, path: SLOW_INIT_STATE_PATH }, timeoutSeconds: 300 },
  });

  /** Request -> Running -> the state page answers from the host: what a client waits for. */
  const startUntilReady = async (enabled: boolean, nodeSelector = ctx.nodeSelector) => {
    const sent = performance.now();
    let pod = podSchema.parse(await call<unknown>('POST', '/v1/pods', spec(enabled, nodeSelector)));
    // What a client that waits for its pod does: the gateway's long poll, woken by the pod's events.
    while (pod.phase !== 'Running') {
      if (ENDED.includes(pod.phase)) throw new Error(`pod ${pod.id} ended ${pod.phase}`);
      if (performance.now() - sent > READY_TIMEOUT_MS) throw new Error(`pod ${pod.id} never got ready`);
      pod = podSchema.parse(await call<unknown>('GET', `/v1/pods/${pod.id}?wait=Ready&timeoutSeconds=${WAIT_SECONDS}`));
    }
    const seenAt = Date.now();
    const address = pod.endpoints[0]?.address;
    if (!address) throw new Error(`pod ${pod.id} is Running without an endpoint`);
    for (;;) {
      const body = await fetch(`http://${address}${SLOW_INIT_STATE_PATH}`, { signal: AbortSignal.timeout(5_000) }).then(
        (r) => (r.status === 200 ? r.text() : ''),
        () => '',
      );
      const state = parseSlowInitState(body);
      if (state) return { pod, ms: performance.now() - sent, seenAt, answeredAt: Date.now(), state };
      if (performance.now() - sent > READY_TIMEOUT_MS) throw new Error(`pod ${pod.id} never answered`);
      await sleep(20);
    }
  };
  const remove = async (id: string): Promise<void> => {
    await call('DELETE', `/v1/pods/${id}`);
    while (!ENDED.includes((await getPod(id)).phase)) await sleep(50);
  };

  const out: KindRuns = {
    kind,
    coldMs: [],
    restoreMs: [],
    remoteMs: [],
    pushMs: [],
    checkpointMs: [],
    sizes: [],
    breakdowns: [],
    stateKept: 0,
    heldKiB: [],
  };
  for (let i = 0; i < runs; i++) {
    const cold = await startUntilReady(false);
    if (cold.pod.startMode === 'restored') throw new Error('a pod without checkpointing was restored');
    out.coldMs.push(cold.ms);

    const { id } = checkpointSchema.pick({ id: true }).parse(await call<unknown>('POST', `/v1/pods/${cold.pod.id}/checkpoint`));
    let ck = await getCheckpoint(id);
    while (ck.state === 'pending') {
      await sleep(50);
      ck = await getCheckpoint(id);
    }
    if (ck.state !== 'available' || ck.sizeBytes === undefined) throw new Error(`checkpoint ${id} is ${ck.state}: ${JSON.stringify(ck)}`);
    out.checkpointMs.push(Date.parse(ck.updatedAt ?? ck.createdAt) - Date.parse(ck.createdAt));
    out.sizes.push(ck.sizeBytes);
    await remove(cold.pod.id);

    const restored = await startUntilReady(true);
    if (restored.pod.startMode !== 'restored' || restored.pod.checkpoint?.restoredFrom !== id) {
      throw new Error(`run ${i}: expected a restore from ${id}, got ${restored.pod.startMode} ${JSON.stringify(restored.pod.checkpoint)}`);
    }
    out.restoreMs.push(restored.ms);
    if (restored.state.memory === cold.state.memory) out.stateKept++;
    if (restored.state.heldKiB !== undefined) out.heldKiB.push(restored.state.heldKiB);
    out.breakdowns.push(await breakdownOf(ctx, restored.pod, restored, restored.ms));
    await remove(restored.pod.id);

    // The same spec on the other node: it holds nothing, so the restore fetches the artifact first.
    const available = Date.parse(ck.updatedAt ?? ck.createdAt);
    while (!(ck = await getCheckpoint(id)).artifact) {
      if (Date.now() - available > READY_TIMEOUT_MS) throw new Error(`checkpoint ${id} was never pushed`);
      await sleep(50);
    }
    out.pushMs.push(Date.parse(ck.updatedAt ?? ck.createdAt) - available);
    const remote = await startUntilReady(true, ctx.remoteNodeSelector);
    if (remote.pod.startMode !== 'restored' || remote.pod.checkpoint?.restoredFrom !== id) {
      throw new Error(
        `run ${i}: expected a remote restore from ${id}, got ${remote.pod.startMode} ${JSON.stringify(remote.pod.checkpoint)}`,
      );
    }
    out.remoteMs.push(remote.ms);
    ctx.log(
      `${kind.name} #${i + 1}: cold ${(cold.ms / 1000).toFixed(2)} s, checkpoint ${out.checkpointMs.at(-1)} ms ` +
        `(${((out.sizes.at(-1) ?? 0) / 2 ** 20).toFixed(2)} MiB), restore ${(restored.ms / 1000).toFixed(2)} s, ` +
        `remote restore ${(remote.ms / 1000).toFixed(2)} s`,
    );
    await remove(remote.pod.id);
    // One checkpoint at a time: the next run restores from its own, and the disk does not fill up.
    await call('DELETE', `/v1/checkpoints/${id}`);
  }
  return out;
}

/** Where one restore's time went: the pod's timeline, the agent's restore lines, and the client's wait. */
async function breakdownOf(
  ctx: CheckpointBenchContext,
  running: Pod,
  client: { seenAt: number; answeredAt: number },
  totalMs: number,
): Promise<RestoreBreakdown> {
  const created = Date.parse(running.createdAt);
  const restoring = Date.parse(running.timeline['Restoring'] ?? '');
  const runningAt = Date.parse(running.timeline['Running'] ?? '');
  if (Number.isNaN(restoring) || Number.isNaN(runningAt))
    throw new Error(`pod ${running.id} timeline: ${JSON.stringify(running.timeline)}`);
  const b: RestoreBreakdown = {
    toRestoringMs: restoring - created,
    restoringToRunningMs: runningAt - restoring,
    runningToAnswerMs: client.answeredAt - runningAt,
    runningSeenMs: client.seenAt - runningAt,
    answerMs: client.answeredAt - client.seenAt,
    totalMs,
  };
  const log = await readFile(ctx.nodeLogPath, 'utf8').catch(() => '');
  const steps = restoreStepsFromLog(log).get(running.id);
  const agent = agentStepsFromLog(log).get(running.id);
  const out: RestoreBreakdown = { ...b };
  if (steps) {
    const { runcMs, criuTotalMs } = steps;
    Object.assign(out, steps, criuTotalMs === undefined ? {} : { runcOwnMs: runcMs - criuTotalMs });
    if (agent) out.checkpointerOwnMs = agent.runcRestoreMs - runcMs - (steps.resumeMs ?? 0) - steps.adoptMs;
  }
  if (agent) {
    const { fetchMs, prepareMs, unpackMs, mountMs, netnsMs, verifyMs, specMs, runcRestoreMs, readinessMs, exposeMs, recordMs } = agent;
    Object.assign(out, { prepareMs, unpackMs, mountMs, netnsMs, verifyMs, specMs, runcRestoreMs, readinessMs, exposeMs, recordMs });
    if (agent.readinessProbes !== undefined) out.readinessProbes = agent.readinessProbes;
    out.agentOtherMs = b.restoringToRunningMs - (fetchMs + prepareMs + runcRestoreMs + readinessMs + exposeMs + recordMs);
  }
  return out;
}
