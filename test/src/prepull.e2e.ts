import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildImage, RegistryProxy } from '@warmpod/devkit';
import type { ClusterNodeSpec } from '@warmpod/local-cluster';
import { createPod, startCluster, stopClusterLeavingNothing, waitForPod, type E2eCluster } from './support';

const MiB = 1024 * 1024;
/** Pulls in flight across the cluster, as the prepuller is configured here. */
const CLUSTER_BUDGET = 2;
/**
 * node-1's disk budget: two of the 25 MiB images below fit, three do not. An image counts its blobs plus its
 * unpacked layers (incompressible here, so about 50 MiB), and the first pull on a node, before any layer is
 * measured, is estimated at twice its blobs unpacked (75 MiB).
 */
const NODE1_BUDGET = 120 * MiB;

interface NodeState {
  node: string;
  state: 'queued' | 'pulling' | 'ready' | 'failed';
  bytesDone?: number;
  bytesTotal?: number;
  layersDone?: number;
  layersTotal?: number;
  reason?: string;
  attempts?: number;
  since?: string;
}

interface PinJson {
  id: string;
  reference: string;
  pinned: string;
  digest: string;
  state: 'active' | 'superseded';
  supersedes?: string;
  nodes: NodeState[];
  ready: number;
}

let e: E2eCluster;
let proxy: RegistryProxy;

function nodeSpec(
  id: string,
  n: number,
  labels: Record<string, string>,
  env: Record<string, string> = {},
): (tag: string, base: number) => ClusterNodeSpec {
  return (tag, base) => ({ id, cpu: 2, memoryMiB: 2048, gpu: 0, labels, bridge: `${tag}-${id}`, subnet: `10.${base}.${n}.0/24`, env });
}

/** Builds `name:tag` with filler layers of the given sizes (new random content each build). */
async function build(name: string, tag: string, pads: number[]): Promise<string> {
  return buildImage({
    registryHost: e.cluster.registryHost,
    name,
    tag,
    workDir: join(e.workDir, 'build'),
    cmd: ['sleep', '3600'],
    padLayers: pads.map((bytes) => ({ bytes })),
    files: { '/etc/build': randomBytes(8).toString('hex') },
  });
}

async function pin(
  body: unknown,
): Promise<{ status: number; json: PinJson & { error?: { code: string; details: Array<{ path: string }> } } }> {
  const res = await e.api('/v1/images', { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as PinJson & { error?: { code: string; details: Array<{ path: string }> } } };
}

async function getPin(id: string): Promise<PinJson> {
  return (await (await e.api(`/v1/images/${id}`)).json()) as PinJson;
}

async function listPins(): Promise<PinJson[]> {
  return ((await (await e.api('/v1/images')).json()) as { items: PinJson[] }).items;
}

/** Polls until `done` holds, calling `seen` with every sample; the deadline bounds a state we can observe. */
async function until<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 30_000,
  seen?: (value: T) => void,
  everyMs = 40,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    seen?.(last);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}

const stateOn = (p: PinJson, node: string): NodeState | undefined => p.nodes.find((n) => n.node === node);
const readyOn = (nodes: string[]) => (p: PinJson) => nodes.every((n) => stateOn(p, n)?.state === 'ready');

async function cachedOn(node: string): Promise<string[]> {
  const nodes = (await (await e.api('/v1/nodes')).json()) as { items: Array<{ id: string; cachedDigests: Array<{ digest: string }> }> };
  return (nodes.items.find((n) => n.id === node)?.cachedDigests ?? []).map((c) => c.digest);
}

async function layersOf(name: string, digest: string): Promise<string[]> {
  const res = await fetch(`http://${e.cluster.registryHost}/v2/${name}/manifests/${digest}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  return ((await res.json()) as { layers: Array<{ digest: string }> }).layers.map((l) => l.digest);
}

/** What a node's image cache holds for a digest: its bundle, its layout entry, which of its layers are complete blobs. */
function cacheTraces(node: string, digest: string, layers: string[]): { bundle: boolean; entry: boolean; layers: string[] } {
  const images = join(e.workDir, 'nodes', node, 'images');
  const hex = digest.slice('sha256:'.length);
  const index = JSON.parse(readFileSync(join(images, 'layout', 'index.json'), 'utf8')) as {
    manifests: Array<{ annotations?: Record<string, string> }>;
  };
  const blobs = new Set(readdirSync(join(images, 'layout', 'blobs', 'sha256')));
  return {
    bundle: existsSync(join(images, 'unpacked', hex)),
    entry: index.manifests.some((m) => m.annotations?.['org.opencontainers.image.ref.name'] === hex),
    layers: layers.filter((l) => blobs.has(l.slice('sha256:'.length))),
  };
}

describe('prepull: pinned images are warm on their nodes before anyone asks', () => {
  let pinA: PinJson;
  let digestA: string;

  before(async () => {
    e = await startCluster({
      nodes: (tag, base) => [
        nodeSpec('node-1', 1, { zone: 'a' }, { NODE_IMAGE_BUDGET_BYTES: String(NODE1_BUDGET) })(tag, base),
        nodeSpec('node-2', 2, { zone: 'b', pool: 'warm' })(tag, base),
      ],
      env: {
        PREPULL_CLUSTER_BUDGET: String(CLUSTER_BUDGET),
        PREPULL_PER_NODE: '1',
        PREPULL_RETRY_AFTER_MS: '1500',
        PREPULL_RESYNC_MS: '2000',
        // Every pull starts at once, through the slow registry link these tests watch (peers would serve the second node at loopback speed).
        PREPULL_PEER_FANOUT: '0',
      },
    });
    // Pins name the registry through this proxy: a slow link (progress can be seen), and faults on demand.
    proxy = await RegistryProxy.start({ target: e.cluster.registryHost });
    proxy.limitRate(12 * MiB);
  });

  after(async () => {
    await proxy?.stop();
    await stopClusterLeavingNothing(e);
  });

  test('a pinned image reaches ready on every target node, with progress seen between queued and ready', async () => {
    digestA = await build('e2e/big', 'v1', [8 * MiB, 8 * MiB, 8 * MiB]);
    const res = await pin({ image: `${proxy.host}/e2e/big:v1` });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    pinA = res.json;
    assert.equal(pinA.digest, digestA);
    assert.equal(pinA.pinned, `${proxy.host}/e2e/big@${digestA}`);

    const states = new Map<string, string[]>();
    const partial = new Set<string>();
    const done = await until(
      'node-1 and node-2 ready on the pin',
      () => getPin(pinA.id),
      readyOn(['node-1', 'node-2']),
      60_000,
      (p) => {
        for (const n of p.nodes) {
          const seen = states.get(n.node) ?? [];
          if (seen.at(-1) !== n.state) seen.push(n.state);
          states.set(n.node, seen);
          if (n.state === 'pulling' && n.bytesDone! > 0 && n.bytesDone! < n.bytesTotal! && n.layersTotal === 5) partial.add(n.node);
        }
      },
    );
    for (const node of ['node-1', 'node-2']) {
      assert.ok(states.get(node)!.includes('pulling'), `${node} went ${states.get(node)!.join(' -> ')}`);
      assert.equal(states.get(node)!.at(-1), 'ready');
      assert.ok(!states.get(node)!.includes('failed'));
    }
    assert.deepEqual([...partial].sort(), ['node-1', 'node-2'], 'bytes seen part-way on every node');
    assert.equal(done.ready, 2);
    assert.ok((await cachedOn('node-1')).includes(digestA));
  });

  test('a node that joins later is warmed with every pin that targets it, without a new request', async () => {
    await e.cluster.addNode(nodeSpec('node-3', 3, { zone: 'c', pool: 'warm' })(e.bridgeTag, e.subnetBase));
    await until('node-3 ready on the pin', () => getPin(pinA.id), readyOn(['node-3']), 30_000);
    assert.ok((await cachedOn('node-3')).includes(digestA));
  });

  test('warming several images never has more pulls in flight than the cluster budget', async () => {
    const names = ['e2e/small1', 'e2e/small2', 'e2e/small3'];
    for (const name of names) await build(name, 'v1', [3 * MiB]);
    const pins: PinJson[] = [];
    for (const name of names) pins.push((await pin({ image: `${proxy.host}/${name}:v1`, nodeSelector: { pool: 'warm' } })).json);
    const ids = new Set(pins.map((p) => p.id));
    let most = 0;
    const inFlight = (all: PinJson[]): number =>
      all
        .filter((p) => ids.has(p.id))
        .reduce((sum, p) => sum + p.nodes.filter((n) => n.state === 'pulling' || (n.state === 'queued' && n.since)).length, 0);
    await until(
      'the small images ready on node-2 and node-3',
      listPins,
      (all) => all.filter((p) => ids.has(p.id)).every(readyOn(['node-2', 'node-3'])),
      60_000,
      (all) => (most = Math.max(most, inFlight(all))),
      15,
    );
    assert.ok(most >= 1, 'pulls were seen in flight');
    assert.ok(most <= CLUSTER_BUDGET, `${most} pulls in flight, budget ${CLUSTER_BUDGET}`);
  });

  test('a registry failing mid-pull: retried, then failed with a reason, and no half-written cache entry', async () => {
    const digest = await build('e2e/flaky', 'v1', [3 * MiB, 3 * MiB]);
    const layers = await layersOf('e2e/flaky', digest);
    // Base, two pads, the small files layer: the pads are what a cut download can never complete.
    const padLayers = layers.slice(1, 3);
    proxy.failBlobs(256 * 1024);
    let flaky: PinJson;
    try {
      const res = await pin({ image: `${proxy.host}/e2e/flaky:v1`, nodeSelector: { zone: 'b' } });
      assert.equal(res.status, 201);
      const failed = await until(
        'the pull to fail on node-2',
        () => getPin(res.json.id),
        (p) => stateOn(p, 'node-2')?.state === 'failed',
        30_000,
      );
      flaky = failed;
      const state = stateOn(failed, 'node-2')!;
      assert.equal(state.attempts, 3, 'the node queue retried it');
      assert.match(state.reason!, /e2e\/flaky/);
      assert.match(state.reason!, /did not answer|download failed/);
      const traces = cacheTraces('node-2', digest, padLayers);
      assert.deepEqual(traces, { bundle: false, entry: false, layers: [] }, 'no bundle, no layout entry, no pad layer kept');
      assert.equal((await cachedOn('node-2')).includes(digest), false);
    } finally {
      proxy.failBlobs(undefined);
    }
    // The registry is back: the prepuller tries again on its own and the node gets it.
    await until('node-2 ready once the registry is healthy', () => getPin(flaky.id), readyOn(['node-2']), 30_000);
    assert.deepEqual(cacheTraces('node-2', digest, padLayers), { bundle: true, entry: true, layers: padLayers });
  });

  test('rebuild and re-pin: nodes converge on the new digest; the old one is evicted only once no pod uses it', async () => {
    const pod = await createPod(e, { image: `${proxy.host}/e2e/big@${digestA}`, nodeSelector: { zone: 'a' } });
    const running = await waitForPod(e, pod.id, (p) => p.phase === 'Running');
    assert.equal(running.node, 'node-1');
    assert.equal(running.startMode, 'warm-cache', 'the pinned image was already on the node');

    const digestB = await build('e2e/big', 'v1', [8 * MiB, 8 * MiB, 8 * MiB]);
    const repin = await pin({ image: `${proxy.host}/e2e/big:v1` });
    assert.equal(repin.status, 201);
    assert.equal(repin.json.digest, digestB);
    assert.equal(repin.json.supersedes, pinA.id);
    await until('every node ready on the new digest', () => getPin(repin.json.id), readyOn(['node-1', 'node-2', 'node-3']), 60_000);
    assert.equal((await getPin(pinA.id)).state, 'superseded');
    assert.ok((await cachedOn('node-1')).includes(digestA), 'the old digest stays while a pod uses it');

    // node-1 holds A (a pod uses it) and B (pinned): a third image does not fit, and nothing is evicted for it.
    const digestC = await build('e2e/other', 'v1', [8 * MiB, 8 * MiB, 8 * MiB]);
    const other = (await pin({ image: `${proxy.host}/e2e/other:v1`, nodeSelector: { zone: 'a' } })).json;
    const refused = await until(
      'the pull on node-1 to fail for the budget',
      () => getPin(other.id),
      (p) => stateOn(p, 'node-1')?.state === 'failed',
      30_000,
    );
    assert.match(
      stateOn(refused, 'node-1')!.reason!,
      /^image needs [\d.]+ MiB, budget 120\.0 MiB, [\d.]+ MiB held by running or pinned images$/,
    );
    const held = await cachedOn('node-1');
    assert.ok(held.includes(digestA) && held.includes(digestB), 'nothing was evicted');

    // The pod ends: A is needed by nobody, so the next try evicts it and C fits.
    await e.api(`/v1/pods/${pod.id}`, { method: 'DELETE' });
    await waitForPod(e, pod.id, (p) => p.phase === 'Stopped');
    await until('node-1 ready on the third image', () => getPin(other.id), readyOn(['node-1']), 30_000);
    const after = await until(
      'node-1 inventory without the old digest',
      () => cachedOn('node-1'),
      (c) => !c.includes(digestA),
      10_000,
    );
    assert.ok(after.includes(digestB) && after.includes(digestC), `node-1 holds ${after.join(', ')}`);
    assert.ok((await cachedOn('node-2')).includes(digestB));
    assert.ok((await cachedOn('node-3')).includes(digestB));
  });

  test('a bad reference is rejected at the API and leaves no pin', async () => {
    const before = (await listPins()).length;
    const invalid = await pin({ image: 'E2E/Bad:v1' });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json.error?.code, 'invalid_image_reference');
    const missing = await pin({ image: `${proxy.host}/e2e/ghost:v1` });
    assert.equal(missing.status, 422);
    assert.equal(missing.json.error?.code, 'image_not_found');
    assert.equal((await listPins()).length, before);
  });
});
