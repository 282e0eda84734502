import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { buildImage, ClusterPki, LocalRegistry, redisOptions, RegistryProxy, type IssuedCert } from '@warmpod/devkit';
import { createLogger } from '@warmpod/observability';
import { NodeRepository, NodeSessions, PullRepository } from '@warmpod/store';
import { announce, peerTestNode, stalledPeer, type PeerTestCluster, type PeerTestNode } from '../testing/peer-node';

/** Blobs between real agents' HTTPS APIs (cluster PKI), real caches, a real registry behind counting proxies, and Redis. */
const needsRoot = process.getuid?.() === 0 ? false : 'unpacking images needs root';
const prefix = `wptest-peers-${randomBytes(3).toString('hex')}:`;
const KiB = 1024;
const FETCHES = 'warmpod_peer_blob_fetches_total';

let redis: Redis;
let registry: LocalRegistry;
let cluster: PeerTestCluster;
const closers: Array<() => Promise<void>> = [];

interface Image {
  digest: string;
  config: string;
  layers: Array<{ digest: string; size: number }>;
}

async function image(name: string, seed: string): Promise<Image> {
  const digest = await buildImage({
    registryHost: registry.host,
    name,
    tag: 'v1',
    workDir: join(cluster.dir, 'build', name.replace('/', '-')),
    cmd: ['sleep', '1'],
    padLayers: [
      { bytes: 300 * KiB, seed: `${seed}-1` },
      { bytes: 200 * KiB, seed: `${seed}-2` },
    ],
  });
  const res = await fetch(`http://${registry.host}/v2/${name}/manifests/${digest}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  const m = (await res.json()) as { config: { digest: string }; layers: Array<{ digest: string; size: number }> };
  return { digest, config: m.config.digest, layers: m.layers };
}

/** A registry proxy of the node's own, so its blob GETs are counted apart from the others'. */
async function proxy(): Promise<RegistryProxy> {
  const p = await RegistryProxy.start({ target: registry.host });
  closers.push(() => p.stop());
  return p;
}

async function node(id: string, stallMs?: number): Promise<PeerTestNode> {
  const n = await peerTestNode(cluster, id, stallMs);
  closers.push(() => n.close());
  return n;
}

const blobGets = (p: RegistryProxy): string[] => [...(p.blobFetches().get('unknown')?.keys() ?? [])].sort();

/** GET a peer's blob path with `cert` (or none); status and body. */
async function getBlob(url: string, path: string, cert?: IssuedCert, range?: string): Promise<{ status: number; body: Buffer }> {
  const ca = await readFile(cluster.pki.caFile);
  const own = cert ? { cert: await readFile(cert.certFile), key: await readFile(cert.keyFile) } : {};
  return new Promise((resolve, reject) => {
    const headers = range ? { range } : {};
    const req = request(`${url}${path}`, { ca, ...own, headers, agent: false, checkServerIdentity: () => undefined }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

before(async () => {
  if (needsRoot) return;
  const dir = await mkdtemp(join(tmpdir(), 'wp-peers-int-'));
  redis = new Redis({ ...redisOptions(), maxRetriesPerRequest: null });
  registry = await LocalRegistry.start({ storageDir: join(dir, 'registry') });
  const pki = await ClusterPki.open(join(dir, 'ca'));
  const logger = createLogger({ service: 'peer-blobs-int', level: 'silent' });
  cluster = {
    dir,
    pki,
    sessions: new NodeSessions(redis, prefix),
    nodes: new NodeRepository(redis, prefix),
    pulls: new PullRepository(redis, prefix),
    logger,
  };
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await registry?.stop();
  if (redis) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
  if (cluster) await rm(cluster.dir, { recursive: true, force: true });
});

describe('blobs between nodes', { skip: needsRoot }, () => {
  let a: PeerTestNode;
  let img: Image;

  test('a node pulling an image another node holds takes every blob from that peer, none from the registry', async () => {
    img = await image('peers/app', 'app');
    a = await node('peer-a');
    const regA = await proxy();
    await a.cache.ensure(`${regA.host}/peers/app@${img.digest}`);
    assert.equal(blobGets(regA).length, 1 + img.layers.length, 'the first node fetched every blob from the registry');
    await announce(cluster, a, img.digest);

    const b = await node('peer-b');
    const regB = await proxy();
    const pulled = await b.cache.ensure(`${regB.host}/peers/app@${img.digest}`);
    assert.equal(pulled.alreadyCached, false);
    assert.deepEqual(blobGets(regB), [], 'no blob GET reached the registry');
    assert.equal(await b.count(FETCHES, 'fetched'), 1 + img.layers.length);
    assert.equal(await a.count('warmpod_peer_blob_served_total', 'complete'), 1 + img.layers.length);
  });

  test('a peer serves a blob it holds to a node certificate, whole or by range', async () => {
    const client = await cluster.pki.issue('node:peer-client');
    const layer = img.layers.at(-1)!;
    const whole = await getBlob(a.url, `/blobs/${layer.digest}`, client);
    assert.equal(whole.status, 200);
    assert.equal(sha256(whole.body), layer.digest);
    const part = await getBlob(a.url, `/blobs/${layer.digest}`, client, 'bytes=100-199');
    assert.equal(part.status, 206);
    assert.deepEqual(part.body, whole.body.subarray(100, 200));
    assert.equal((await getBlob(a.url, `/blobs/${layer.digest}`, client, `bytes=${layer.size}-`)).status, 416);
  });

  test('a client that is not a node of the cluster is refused', async () => {
    const path = `/blobs/${img.layers[0]!.digest}`;
    assert.equal((await getBlob(a.url, path)).status, 401);
    assert.equal((await getBlob(a.url, path, await cluster.pki.issue('service:gateway'))).status, 403);
    assert.equal((await getBlob(a.url, path, await cluster.pki.issue('operator:alice'))).status, 403);
    const other = await ClusterPki.open(join(cluster.dir, 'other-ca'), 'another CA');
    assert.equal((await getBlob(a.url, path, await other.issue('node:peer-b'))).status, 401);
  });

  test('a checkpoint blob, a manifest or a malformed digest is never served, even in the layout', async () => {
    const client = await cluster.pki.issue('node:peer-client');
    const checkpoint = Buffer.from('criu pages of some tenant');
    const digest = sha256(checkpoint);
    // Even planted among the cache's own blobs, it is no image's config or layer.
    await writeFile(join(cluster.dir, 'nodes', 'peer-a', 'layout', 'blobs', 'sha256', digest.slice(7)), checkpoint);
    assert.equal((await getBlob(a.url, `/blobs/${digest}`, client)).status, 404);
    assert.equal((await getBlob(a.url, `/blobs/${img.digest}`, client)).status, 404);
    assert.equal((await getBlob(a.url, '/blobs/sha256:..%2F..%2Findex.json', client)).status, 404);
  });

  test('a peer serving wrong bytes: the blob is discarded, counted, and taken from the registry', async () => {
    const bad = await image('peers/bad', 'bad');
    const regA = await proxy();
    await a.cache.ensure(`${regA.host}/peers/bad@${bad.digest}`);
    await announce(cluster, a, bad.digest);
    const victim = bad.layers.at(-1)!;
    // Same size, other bytes: what a corrupted disk serves.
    await writeFile(join(cluster.dir, 'nodes', 'peer-a', 'layout', 'blobs', 'sha256', victim.digest.slice(7)), randomBytes(victim.size));

    const c = await node('peer-c');
    const regC = await proxy();
    await c.cache.ensure(`${regC.host}/peers/bad@${bad.digest}`);
    assert.equal(await c.count(FETCHES, 'wrong'), 1);
    assert.deepEqual(blobGets(regC), [victim.digest], 'only the wrong blob came from the registry');
    const kept = await readFile(join(cluster.dir, 'nodes', 'peer-c', 'layout', 'blobs', 'sha256', victim.digest.slice(7)));
    assert.equal(sha256(kept), victim.digest);
  });

  test('a peer at its upload cap answers 503 and the puller takes the blob elsewhere at once', { timeout: 30_000 }, async () => {
    const busy = await image('peers/busy', 'busy');
    const regA = await proxy();
    await a.cache.ensure(`${regA.host}/peers/busy@${busy.digest}`);
    await announce(cluster, a, busy.digest);
    // Every upload slot of A taken, as by uploads to other peers in progress.
    let taken = 0;
    while (a.slots.take()) taken++;
    try {
      const busyBefore = await a.count('warmpod_peer_blob_served_total', 'busy');
      // A stall wait (60 s) would outlast the test's timeout: only an answer at once passes.
      const e = await node('peer-e', 60_000);
      const regE = await proxy();
      await e.cache.ensure(`${regE.host}/peers/busy@${busy.digest}`);
      const onlyA = [busy.config, ...busy.layers.slice(-2).map((l) => l.digest)].sort();
      assert.deepEqual(
        blobGets(regE).filter((g) => onlyA.includes(g)),
        onlyA,
        'what only the busy peer holds came from the registry',
      );
      // The shared base layer may have been asked of A too (it is one of its holders).
      assert.ok((await a.count('warmpod_peer_blob_served_total', 'busy')) - busyBefore >= onlyA.length, 'A turned the peer away');
      assert.ok((await e.count(FETCHES, 'unavailable')) >= onlyA.length);
    } finally {
      for (let i = 0; i < taken; i++) a.slots.give();
    }
  });

  test('a stalled peer is left after the stall deadline and the registry serves the blob', { timeout: 60_000 }, async () => {
    const slow = await image('peers/slow', 'slow');
    const stalled = await stalledPeer(cluster, 'peer-stalled');
    closers.push(() => stalled.close());
    const described = slow.layers.map((l) => ({ digest: l.digest, sizeBytes: l.size }));
    await cluster.nodes.addCachedDigest('peer-stalled', slow.digest, 1, described);

    const d = await node('peer-d', 300);
    const regD = await proxy();
    await d.cache.ensure(`${regD.host}/peers/slow@${slow.digest}`);
    const own = [slow.config, ...slow.layers.slice(-2).map((l) => l.digest)].sort();
    assert.deepEqual(
      blobGets(regD).filter((g) => own.includes(g)),
      own,
      'what only the stalled peer claimed came from the registry',
    );
    assert.ok((await d.count(FETCHES, 'unavailable')) >= own.length);
  });
});
