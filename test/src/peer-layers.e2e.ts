import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildImage, RegistryProxy } from '@warmpod/devkit';
import { startCluster, stopClusterLeavingNothing, type E2eCluster } from './support';

const MiB = 1024 * 1024;
const NODES = ['node-1', 'node-2', 'node-3'];

let e: E2eCluster;
let proxy: RegistryProxy;

interface PinJson {
  id: string;
  digest: string;
  nodes: Array<{ node: string; state: string; reason?: string }>;
}

async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}

describe('nodes share layers: a pin warmed on every node costs the registry one copy', () => {
  before(async () => {
    e = await startCluster({
      nodes: (tag, base) =>
        NODES.map((id, i) => ({
          id,
          cpu: 2,
          memoryMiB: 2048,
          gpu: 0,
          labels: {},
          bridge: `${tag}-${id}`,
          subnet: `10.${base}.${i + 1}.0/24`,
        })),
      env: { PREPULL_CLUSTER_BUDGET: '3', PREPULL_PER_NODE: '1' },
    });
    proxy = await RegistryProxy.start({ target: e.cluster.registryHost });
  });

  after(async () => {
    await proxy?.stop();
    await stopClusterLeavingNothing(e);
  });

  test('every node ends ready, and each blob of the image left the registry once', async () => {
    const digest = await buildImage({
      registryHost: e.cluster.registryHost,
      name: 'e2e/shared',
      tag: 'v1',
      workDir: join(e.workDir, 'build'),
      cmd: ['sleep', '3600'],
      padLayers: [{ bytes: 4 * MiB }, { bytes: 4 * MiB }],
      files: { '/etc/build': randomBytes(8).toString('hex') },
    });
    const res = await e.api('/v1/images', { method: 'POST', body: JSON.stringify({ image: `${proxy.host}/e2e/shared:v1` }) });
    assert.equal(res.status, 201);
    const pin = (await res.json()) as PinJson;
    assert.equal(pin.digest, digest);
    await until(
      'the pin ready on every node',
      async () => (await (await e.api(`/v1/images/${pin.id}`)).json()) as PinJson,
      (p) => {
        const failed = p.nodes.find((n) => n.state === 'failed');
        if (failed) throw new Error(`the pull failed on ${failed.node}: ${failed.reason}`);
        return NODES.every((id) => p.nodes.some((n) => n.node === id && n.state === 'ready'));
      },
      120_000,
    );
    const manifest = (await (
      await fetch(`http://${e.cluster.registryHost}/v2/e2e/shared/manifests/${digest}`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).json()) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const blobs = [manifest.config.digest, ...manifest.layers.map((l) => l.digest)].sort();
    const gets = proxy.requests.filter((r) => r.kind === 'blob' && r.method === 'GET' && r.status === 200).map((r) => r.reference!);
    assert.deepEqual(gets.sort(), blobs, 'one registry GET per blob for the whole cluster');
  });
});
