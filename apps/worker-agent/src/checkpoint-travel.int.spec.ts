import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { checkpointKey, checkpointSpecKey, newId, runtimeKey, type PodRecord, type RuntimeFingerprint } from '@warmpod/domain';
import { CheckpointStore, RuncCheckpointer, WritableLayerArchive } from '@warmpod/node-runtime';
import { createLogger } from '@warmpod/observability';
import { checkpointRepository, RegistryClient, RegistryError } from '@warmpod/registry';
import { CheckpointRepository, NodeLiveness, NodeRepository, NodeSessions } from '@warmpod/store';
import { dropKeys, freePort, LocalRegistry, redisOptions } from '@warmpod/devkit';
import { CheckpointArtifacts, CheckpointFetchError } from './checkpoint-artifacts';
import { CheckpointPusher } from './checkpoint-pusher';
import { CheckpointRegistrySweep } from './checkpoint-registry-sweep';
import { PodCheckpoints } from './pod-checkpoints';
import { checkpointablePod } from './testing/checkpointable-pod';

const prefix = `t-${randomUUID().slice(0, 8)}:`;
const logger = createLogger({ service: 'checkpoint-travel-int', level: 'silent' });
const RUNTIME: RuntimeFingerprint = {
  arch: 'x64',
  cpuFlags: ['sse4_2'],
  kernel: '6.18.0',
  criuVersion: '4.2.1',
  criuMode: 'no-breakpoints',
  runcVersion: '1.1.5',
};
const MiB = 2 ** 20;

let redis: Redis;
let dir: string;
let registry: LocalRegistry;
let records: CheckpointRepository;
const client = new RegistryClient({ insecureRegistries: [], timeoutMs: 10_000 });

interface TestNode {
  id: string;
  store: CheckpointStore;
  artifacts: CheckpointArtifacts;
  pusher: CheckpointPusher;
  sweep: CheckpointRegistrySweep;
  checkpoints: PodCheckpoints;
}

const GONE_AFTER_MS = 3_600_000;

function node(id: string, opts: { host?: string; diskBudgetBytes?: number } = {}): TestNode {
  const store = new CheckpointStore({ dataDir: join(dir, id), logger });
  const diskBudgetBytes = opts.diskBudgetBytes ?? 100 * MiB;
  const artifacts = new CheckpointArtifacts({
    registry: client,
    host: opts.host ?? registry.host,
    runtime: RUNTIME,
    runtimeKey: runtimeKey(RUNTIME),
    store,
    diskBudgetBytes,
  });
  const sweep = new CheckpointRegistrySweep({
    records,
    nodes: new NodeRepository(redis, prefix),
    artifacts,
    nodeGoneAfterMs: GONE_AFTER_MS,
    logger,
  });
  const pusher = new CheckpointPusher({ nodeId: id, records, store, artifacts, sweep, retryMs: 60_000, logger });
  const runtimeOptions = { runcRoot: join(dir, id, 'runc'), cgroupParent: 'warmpod-travel-test', logger };
  const checkpoints = new PodCheckpoints({
    nodeId: id,
    runtime: RUNTIME,
    records,
    tools: {
      checkpointer: new RuncCheckpointer(runtimeOptions),
      archive: new WritableLayerArchive({ logger }),
      store,
    },
    sandboxes: { upperDir: (podId: string) => join(dir, id, 'pods', podId, 'upper') },
    retention: { keepPerKey: 5, maxAgeMs: 3_600_000, diskBudgetBytes, quarantineAfter: 3 },
    logger,
    travel: { artifacts, pusher, sweep },
  });
  return { id, store, artifacts, pusher, sweep, checkpoints };
}

const pod = (tenant = 'acme'): PodRecord => checkpointablePod({ tenant });

/** A checkpoint as a finished `take` leaves it on `on`: CRIU-like files (one of 2 MiB) and a layer tar, record available. */
async function taken(on: TestNode, p: PodRecord): Promise<string> {
  const id = newId('ckpt');
  const key = checkpointKey({ tenant: p.tenant, digest: p.image.digest, spec: p.spec, runtime: RUNTIME });
  await records.create({
    id,
    key,
    specKey: checkpointSpecKey({ tenant: p.tenant, digest: p.image.digest, spec: p.spec }),
    runtime: runtimeKey(RUNTIME),
    tenant: p.tenant,
    node: on.id,
    pod: p.id,
    digest: p.image.digest,
    createdAt: new Date().toISOString(),
  });
  const draft = await on.store.begin(p.tenant, id);
  await mkdir(draft.imagesDir, { mode: 0o700 });
  await writeFile(join(draft.imagesDir, 'inventory.img'), randomBytes(64));
  await writeFile(join(draft.imagesDir, 'pages-1.img'), randomBytes(2 * MiB));
  await writeFile(draft.layerArchivePath, randomBytes(4096));
  const stored = await draft.commit({ key, digest: p.image.digest, podId: p.id });
  assert.equal((await records.markAvailable(id, stored.sizeBytes)).applied, true);
  return id;
}

async function contentOf(imagesDir: string, layer: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const hash = async (path: string) =>
    createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  for (const name of (await readdir(imagesDir)).sort()) out[name] = await hash(join(imagesDir, name));
  out['layer'] = await hash(layer);
  return out;
}

/** Every entry under a node's store for a tenant: nothing of a failed fetch may stay (no staging dirs either). */
async function leftovers(n: TestNode, tenant: string): Promise<string[]> {
  return readdir(join(n.store.root, tenant)).catch(() => []);
}

/** The file the registry keeps a blob's bytes in. */
function blobFile(digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(dir, 'registry', 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

before(async () => {
  redis = new Redis({ ...redisOptions(), maxRetriesPerRequest: null });
  dir = await mkdtemp(join(tmpdir(), 'wp-travel-int-'));
  registry = await LocalRegistry.start({ storageDir: join(dir, 'registry') });
  records = new CheckpointRepository(redis, prefix);
});

after(async () => {
  await registry?.stop();
  if (redis) {
    await dropKeys(redis, prefix);
    await redis.quit();
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('checkpoints that travel (real registry and Redis)', () => {
  test('pushed once taken; a node that never had it fetches it verified, restores from the copy, and a delete removes it everywhere', async () => {
    const a = node('node-a');
    const b = node('node-b');
    const p = pod();
    const id = await taken(a, p);
    assert.equal(await a.pusher.push(id), true);
    const record = await records.get(id);
    assert.match(record?.artifact ?? '', /^sha256:[a-f0-9]{64}$/);
    assert.ok((record?.artifactBytes ?? 0) > 2 * MiB);
    assert.equal(await a.pusher.push(id), true, 'pushing again changes nothing');

    const later = { ...pod(), spec: p.spec, node: 'node-b' };
    const plan = await b.checkpoints.findRestorable(later);
    assert.ok(plan && 'remote' in plan, 'node-b holds nothing: it must fetch');
    const fetched = await b.checkpoints.fetch(plan.record);
    const original = await a.store.get(p.tenant, id);
    assert.ok(original);
    assert.deepEqual(
      await contentOf(fetched.imagesDir, fetched.layerArchivePath),
      await contentOf(original.imagesDir, original.layerArchivePath),
    );
    assert.deepEqual(await records.copiesOf(id), ['node-b']);
    assert.equal(fetched.imagesVerified, true, 'just verified blob by blob: the restore does not read it all again');
    const again = await b.checkpoints.findRestorable(later);
    assert.ok(again && !('remote' in again), 'the copy is used from then on');
    assert.notEqual(again.imagesVerified, true, 'a copy kept on disk is verified again by each restore');
    assert.deepEqual(
      (await b.checkpoints.inventory()).map((c) => c.id),
      [id],
      'node-b reports the copy, so placement ranks it as holding the checkpoint',
    );

    // What DELETE /v1/checkpoints/{id} does: the record first, then a delete-checkpoint job on every node holding it.
    await records.markDeleted(id, 'deleted by the user');
    await a.checkpoints.remove(id);
    await b.checkpoints.remove(id);
    assert.equal(await a.store.get(p.tenant, id), undefined);
    assert.equal(await b.store.get(p.tenant, id), undefined);
    assert.deepEqual(await records.copiesOf(id), []);
    await assert.rejects(client.fetchManifest(registry.host, checkpointRepository(p.tenant), record!.artifact!), (e: unknown) => {
      return e instanceof RegistryError && e.kind === 'not-found';
    });
    assert.equal(await b.checkpoints.findRestorable(later), undefined, 'a deleted checkpoint is never offered again');
  });

  test('a blob whose bytes no longer match its digest, or that is gone, fails the fetch as damaged and leaves nothing', async () => {
    const a = node('node-a');
    const b = node('node-b');
    for (const damage of ['corrupt', 'missing'] as const) {
      const p = pod(`tenant-${damage}`);
      const id = await taken(a, p);
      assert.equal(await a.pusher.push(id), true);
      const record = (await records.get(id))!;
      const pages = createHash('sha256')
        .update(await readFile(join((await a.store.get(p.tenant, id))!.imagesDir, 'pages-1.img')))
        .digest('hex');
      const file = blobFile(`sha256:${pages}`);
      if (damage === 'corrupt') await writeFile(file, randomBytes(2 * MiB));
      else await rm(file);
      await assert.rejects(b.checkpoints.fetch(record), (e: unknown) => {
        assert.ok(e instanceof CheckpointFetchError, String(e));
        assert.equal(e.damaged, true);
        assert.match(e.message, damage === 'corrupt' ? /pages-1\.img.*failed verification/ : /pages-1\.img.*(not found|HTTP)/);
        return true;
      });
      assert.deepEqual(await leftovers(b, p.tenant), [], `${damage}: nothing half-fetched stays`);
      assert.deepEqual(await records.copiesOf(id), []);
    }
  });

  test('registry down while pushing: the checkpoint stays restorable on its node, the failure is recorded, a later pass pushes it; down while fetching: only a fallback', async () => {
    const down = node('node-a', { host: `127.0.0.1:${await freePort()}` });
    const p = pod('tenant-down');
    const id = await taken(down, p);
    assert.equal(await down.pusher.push(id), false);
    const failed = await records.get(id);
    assert.equal(failed?.state, 'available');
    assert.equal(failed?.artifact, undefined);
    assert.match(failed?.pushError ?? '', /push to the registry failed: registry 127\.0\.0\.1:\d+ did not answer/);
    const local = await down.checkpoints.findRestorable({ ...pod(p.tenant), spec: p.spec });
    assert.ok(local && !('remote' in local), 'still restorable where it was taken');

    const up = node('node-a');
    assert.ok((await up.pusher.pushPending()) >= 1);
    const pushed = await records.get(id);
    assert.match(pushed?.artifact ?? '', /^sha256:/);
    assert.equal(pushed?.pushError, undefined, 'the recorded failure is cleared once pushed');

    // Down while a node fetches: not the checkpoint's fault (no restore failure counted), nothing left.
    const cut = node('node-b', { host: `127.0.0.1:${await freePort()}` });
    await assert.rejects(cut.checkpoints.fetch(pushed!), (e: unknown) => {
      return e instanceof CheckpointFetchError && !e.damaged && /did not answer/.test(e.message);
    });
    assert.deepEqual(await leftovers(cut, p.tenant), []);
  });

  test("tenant isolation: another tenant's pod of the same spec never finds it, and a record pointing at another tenant's artifact does not fetch", async () => {
    const a = node('node-a');
    const b = node('node-b');
    const p = pod('tenant-one');
    const id = await taken(a, p);
    assert.equal(await a.pusher.push(id), true);
    assert.equal(await b.checkpoints.findRestorable({ ...pod('tenant-two'), spec: p.spec }), undefined);
    const record = (await records.get(id))!;
    // The artifact lives in tenant-one's repository only: read as tenant-two's, it is not there.
    await assert.rejects(b.checkpoints.fetch({ ...record, tenant: 'tenant-two' }), (e: unknown) => {
      return e instanceof CheckpointFetchError && e.damaged && /not found/.test(e.message);
    });
    assert.deepEqual(await leftovers(b, 'tenant-two'), []);
  });

  test("a fetch that does not fit the disk budget is refused before any byte is written (not the checkpoint's fault)", async () => {
    const a = node('node-a');
    const small = node('node-c', { diskBudgetBytes: MiB });
    const p = pod('tenant-budget');
    const id = await taken(a, p);
    assert.equal(await a.pusher.push(id), true);
    await assert.rejects(small.checkpoints.fetch((await records.get(id))!), (e: unknown) => {
      return e instanceof CheckpointFetchError && !e.damaged && /needs \d+ bytes.*budget/.test(e.message);
    });
    assert.deepEqual(await leftovers(small, p.tenant), []);
  });

  test('registry hygiene: a delete while the registry is down is noted and done by the next sweep; checkpoints of a node gone long enough are deleted with their artifacts, a live or briefly lost node keeps its own', async () => {
    const notFound = (tenant: string, artifact: string) =>
      assert.rejects(client.fetchManifest(registry.host, checkpointRepository(tenant), artifact), (e: unknown) => {
        return e instanceof RegistryError && e.kind === 'not-found';
      });
    // A delete-checkpoint job while the registry is down: files and record go, the artifact is noted.
    const a = node('node-a');
    const p = pod('tenant-hygiene');
    const id = await taken(a, p);
    assert.equal(await a.pusher.push(id), true);
    const artifact = (await records.get(id))!.artifact!;
    const down = node('node-a', { host: `127.0.0.1:${await freePort()}` });
    await records.markDeleted(id, 'deleted by the user');
    await down.checkpoints.remove(id);
    assert.equal(await a.store.get(p.tenant, id), undefined);
    assert.deepEqual(await records.artifactDeletes(), [{ tenant: p.tenant, artifact }], 'noted while the registry is down');
    assert.deepEqual(await down.sweep.run(), { orphaned: 0, deleted: 0, failed: 1 }, 'still down: kept for the next pass');
    assert.deepEqual(await a.sweep.run(), { orphaned: 0, deleted: 1, failed: 0 });
    await notFound(p.tenant, artifact);
    assert.deepEqual(await records.artifactDeletes(), []);

    // Three nodes with a pushed checkpoint each: one live, one lost a minute ago, one that left an hour ago.
    const sessions = new NodeSessions(redis, prefix);
    const liveness = new NodeLiveness(redis, prefix);
    const registration = (nodeId: string) => ({
      id: nodeId,
      labels: {},
      capacity: { cpu: 1, memoryMiB: 512, gpu: 0 },
      agentUrl: 'http://127.0.0.1:1',
      capabilities: {},
    });
    const ids: Record<string, string> = {};
    for (const nodeId of ['node-live', 'node-lost', 'node-left']) {
      const n = node(nodeId);
      ids[nodeId] = await taken(n, { ...pod('tenant-hygiene'), node: nodeId });
      assert.equal(await n.pusher.push(ids[nodeId]!), true);
    }
    // The nodes of the tests before are alive too.
    for (const live of ['node-live', 'node-a', 'node-b', 'node-c']) await sessions.register(registration(live), `s-${live}`);
    await sessions.register(registration('node-lost'), 's-lost');
    assert.equal(await liveness.markLost('node-lost', new Date(Date.now() + 1000)), true);
    const artifactOf = async (nodeId: string) => (await records.get(ids[nodeId]!))!.artifact!;
    const leftArtifact = await artifactOf('node-left');
    const lostArtifact = await artifactOf('node-lost');

    // Within the grace: nothing is deleted (a node may come back from a restart).
    assert.equal((await a.sweep.run()).orphaned, 0);
    // Past it: the lost node's and the unregistered node's checkpoints go, artifacts included; the live node's stay.
    const later = Date.now() + GONE_AFTER_MS + 60_000;
    assert.deepEqual(await a.sweep.run(later), { orphaned: 2, deleted: 2, failed: 0 });
    for (const gone of ['node-lost', 'node-left']) {
      const record = await records.get(ids[gone]!);
      assert.equal(record?.state, 'deleted');
      assert.match(record?.reason ?? '', new RegExp(`its node ${gone} is gone`));
    }
    await notFound('tenant-hygiene', leftArtifact);
    await notFound('tenant-hygiene', lostArtifact);
    assert.equal((await records.get(ids['node-live']!))?.state, 'available');
    await client.fetchManifest(registry.host, checkpointRepository('tenant-hygiene'), await artifactOf('node-live'));
    assert.deepEqual(await a.sweep.run(later), { orphaned: 0, deleted: 0, failed: 0 }, 'a second pass has nothing to do');
  });

  test('fetched copies stay within the disk budget: the least recently used is evicted first, never one a restore holds', async () => {
    const a = node('node-a');
    const b = node('node-d', { diskBudgetBytes: 5 * MiB });
    const tenant = 'tenant-lru';
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const id = await taken(a, pod(tenant));
      assert.equal(await a.pusher.push(id), true);
      ids.push(id);
    }
    const record = async (id: string) => (await records.get(id))!;
    const onB = async () => (await b.store.list()).map((c) => c.id).sort();
    await b.checkpoints.fetch(await record(ids[0]!));
    await b.checkpoints.fetch(await record(ids[1]!));
    // A restore used the first copy after the second was fetched: the second is now the least recently used.
    (await b.checkpoints.hold(await record(ids[0]!)))();
    await b.checkpoints.fetch(await record(ids[2]!));
    assert.deepEqual(await onB(), [ids[0]!, ids[2]!].sort(), 'two ~2 MiB copies fit 5 MiB: the LRU one made room');
    assert.deepEqual(await records.copiesOf(ids[1]!), [], 'the evicted copy left the copy set');
    assert.deepEqual(await records.copiesOf(ids[0]!), ['node-d']);

    // Both copies held by restores under way: nothing may go, so the fetch is refused (not the checkpoint's fault).
    const releases = [await b.checkpoints.hold(await record(ids[0]!)), await b.checkpoints.hold(await record(ids[2]!))];
    await assert.rejects(b.checkpoints.fetch(await record(ids[3]!)), (e: unknown) => {
      return e instanceof CheckpointFetchError && !e.damaged && /budget/.test(e.message);
    });
    assert.deepEqual(await onB(), [ids[0]!, ids[2]!].sort());
    for (const release of releases) release();
    await b.checkpoints.fetch(await record(ids[3]!));
    assert.equal((await onB()).length, 2, 'released: the fetch evicts one and fits');
    assert.ok((await onB()).includes(ids[3]!));
  });
});
