import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { parseSlowInitState, SLOW_INIT_PORT, SLOW_INIT_STATE_PATH, slowInitCommand } from '@warmpod/devkit';
import { createPod, waitForPod, type E2eCluster, type PodJson } from './support';

/**
 * Checkpoints that travel (issue 10, item 6): a checkpoint taken on one host
 * node is pushed to the cluster's registry as an OCI artifact; another node
 * of the same runtime that never held it fetches it (verified by digest) and
 * restores; a damaged artifact falls back to a normal run in the same job;
 * a delete removes the files everywhere and the artifact.
 */

export interface TravelNode {
  id: string;
  selector: Record<string, string>;
  /** Whether the node holds any file of a checkpoint (its own or a fetched copy). */
  holdsCheckpoint(checkpointId: string): Promise<boolean>;
}

interface TravelPod extends PodJson {
  checkpoint?: { restoredFrom?: string; taken?: string; error?: string };
}

interface CheckpointJson {
  id: string;
  node: string;
  state: string;
  restoreFailures: number;
  reason?: string;
  artifact?: string;
  artifactBytes?: number;
}

const ARTIFACT_DEADLINE_MS = 60_000;
const settled = (p: { phase: string }) => ['Running', 'Succeeded', 'Failed', 'Stopped', 'Lost'].includes(p.phase);
const ended = (p: { phase: string }) => ['Succeeded', 'Failed', 'Stopped', 'Lost'].includes(p.phase);

function slowPod(image: string, selector: Record<string, string>, env: Record<string, string>) {
  return {
    image,
    command: slowInitCommand(5),
    ports: [SLOW_INIT_PORT],
    env,
    nodeSelector: selector,
    checkpoint: { enabled: true, condition: { type: 'http', port: SLOW_INIT_PORT, path: SLOW_INIT_STATE_PATH }, timeoutSeconds: 120 },
  };
}

async function memoryOf(address: string): Promise<string> {
  const res = await fetch(`http://${address}${SLOW_INIT_STATE_PATH}`, { signal: AbortSignal.timeout(20_000) });
  assert.equal(res.status, 200);
  const parsed = parseSlowInitState(await res.text());
  assert.ok(parsed, 'the state script answers');
  return parsed.memory;
}

async function record(e: E2eCluster, id: string): Promise<CheckpointJson> {
  const res = await e.api(`/v1/checkpoints/${id}`);
  assert.equal(res.status, 200, `GET /v1/checkpoints/${id}`);
  return (await res.json()) as CheckpointJson;
}

/** Polls until the checkpoint's artifact is recorded: the push runs off the start path. */
async function pushed(e: E2eCluster, id: string): Promise<CheckpointJson & { artifact: string }> {
  const deadline = Date.now() + ARTIFACT_DEADLINE_MS;
  for (;;) {
    const ck = await record(e, id);
    if (ck.artifact) return { ...ck, artifact: ck.artifact };
    if (Date.now() > deadline) throw new Error(`checkpoint ${id} was not pushed: ${JSON.stringify(ck)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The tenant's checkpoint repository in the cluster's registry (the e2e tenant is the only one that checkpoints). */
async function checkpointRepo(e: E2eCluster): Promise<string> {
  const catalog = (await (await fetch(`http://${e.cluster.registryHost}/v2/_catalog`)).json()) as { repositories: string[] };
  const repos = catalog.repositories.filter((r) => r.startsWith('warmpod-checkpoints/'));
  assert.equal(repos.length, 1, JSON.stringify(catalog));
  return repos[0]!;
}

const MANIFEST_ACCEPT = 'application/vnd.oci.image.manifest.v1+json';

async function sourceCheckpoint(e: E2eCluster, from: TravelNode, image: string, env: Record<string, string>) {
  const source = (await waitForPod(e, (await createPod(e, slowPod(image, from.selector, env))).id, settled, 240_000)) as TravelPod;
  assert.equal(source.phase, 'Running', JSON.stringify(source));
  assert.equal(source.node, from.id);
  assert.ok(source.checkpoint?.taken, JSON.stringify(source.checkpoint));
  const memory = await memoryOf(source.endpoints[0]!.address);
  const ck = await pushed(e, source.checkpoint.taken);
  assert.equal(ck.node, from.id);
  assert.ok((ck.artifactBytes ?? 0) > 0);
  assert.equal((await e.api(`/v1/pods/${source.id}`, { method: 'DELETE' })).status, 202);
  await waitForPod(e, source.id, ended, 120_000);
  return { checkpoint: ck, memory };
}

export function travelCases(
  ctx: () => { e: E2eCluster; from: TravelNode; to: TravelNode },
  timings: Record<string, number | string>,
): void {
  test('a checkpoint travels: pushed once taken, fetched and restored on a node of the same runtime that never had it, deleted everywhere', async () => {
    const { e, from, to } = ctx();
    const image = `${e.cluster.registryHost}/warmpod/http:latest`;
    const env = { WARMPOD_CASE: `travel-${randomBytes(3).toString('hex')}` };
    const { checkpoint, memory } = await sourceCheckpoint(e, from, image, env);
    assert.equal(await to.holdsCheckpoint(checkpoint.id), false, `${to.id} never had it`);

    const started = Date.now();
    const restored = (await waitForPod(e, (await createPod(e, slowPod(image, to.selector, env))).id, settled, 240_000)) as TravelPod;
    timings.remoteRestoreToRunningMs = Date.now() - started;
    const restoring = restored.timeline['Restoring'];
    if (restoring) timings.remoteRestoringToRunningMs = Date.parse(restored.timeline['Running'] ?? '') - Date.parse(restoring);
    assert.equal(restored.phase, 'Running', JSON.stringify(restored));
    assert.equal(restored.node, to.id);
    assert.match(restored.placement?.why ?? '', /compatible checkpoint in the registry/);
    assert.equal(restored.startMode, 'restored', JSON.stringify(restored));
    assert.equal(restored.checkpoint?.restoredFrom, checkpoint.id);
    assert.equal(await memoryOf(restored.endpoints[0]!.address), memory, "the in-memory state of node-1's pod came back on the other node");
    assert.equal(await to.holdsCheckpoint(checkpoint.id), true, 'the fetched copy stays for the next pod');
    assert.equal((await e.api(`/v1/pods/${restored.id}`, { method: 'DELETE' })).status, 202);
    await waitForPod(e, restored.id, ended, 120_000);

    const repo = await checkpointRepo(e);
    const manifestUrl = `http://${e.cluster.registryHost}/v2/${repo}/manifests/${checkpoint.artifact}`;
    assert.equal((await fetch(manifestUrl, { headers: { accept: MANIFEST_ACCEPT } })).status, 200);
    assert.equal((await e.api(`/v1/checkpoints/${checkpoint.id}`, { method: 'DELETE' })).status, 202);
    await until(
      'both nodes remove their files',
      async () => !(await from.holdsCheckpoint(checkpoint.id)) && !(await to.holdsCheckpoint(checkpoint.id)),
    );
    await until(
      'the artifact leaves the registry',
      async () => (await fetch(manifestUrl, { headers: { accept: MANIFEST_ACCEPT } })).status === 404,
    );
  });

  test('an artifact whose blob is gone: the remote start falls back in the same job, the checkpoint records the failure, nothing fetched stays', async () => {
    const { e, from, to } = ctx();
    const image = `${e.cluster.registryHost}/warmpod/http:latest`;
    const env = { WARMPOD_CASE: `travel-broken-${randomBytes(3).toString('hex')}` };
    const { checkpoint, memory } = await sourceCheckpoint(e, from, image, env);
    const repo = await checkpointRepo(e);
    const base = `http://${e.cluster.registryHost}/v2/${repo}`;
    const manifest = (await (await fetch(`${base}/manifests/${checkpoint.artifact}`, { headers: { accept: MANIFEST_ACCEPT } })).json()) as {
      layers: Array<{ digest: string; annotations?: Record<string, string> }>;
    };
    const pages = manifest.layers.find((l) => /^pages-\d+\.img$/.test(l.annotations?.['org.opencontainers.image.title'] ?? ''));
    assert.ok(pages, 'the artifact carries CRIU page images');
    assert.equal((await fetch(`${base}/blobs/${pages.digest}`, { method: 'DELETE' })).status, 202);

    const fallback = (await waitForPod(e, (await createPod(e, slowPod(image, to.selector, env))).id, settled, 240_000)) as TravelPod;
    assert.equal(fallback.phase, 'Running', JSON.stringify(fallback));
    assert.equal(fallback.node, to.id);
    assert.equal(fallback.startMode, 'fallback', JSON.stringify(fallback));
    assert.equal(fallback.checkpoint?.restoredFrom, checkpoint.id);
    assert.match(fallback.checkpoint?.error ?? '', /restore from .* failed: fetching checkpoint .* pages-\d+\.img/);
    assert.notEqual(await memoryOf(fallback.endpoints[0]!.address), memory, 'a normal run: new state');
    const broken = await record(e, checkpoint.id);
    assert.equal(broken.state, 'restore_failed', JSON.stringify(broken));
    assert.equal(broken.restoreFailures, 1);
    assert.match(broken.reason ?? '', /pages-\d+\.img/);
    assert.equal(await to.holdsCheckpoint(checkpoint.id), false, 'nothing of the failed fetch stays');
    assert.equal((await e.api(`/v1/pods/${fallback.id}`, { method: 'DELETE' })).status, 202);
    await waitForPod(e, fallback.id, ended, 120_000);
  });
}
