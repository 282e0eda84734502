import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  checkpointKey,
  checkpointSpecKey,
  newId,
  normaliseSpec,
  runtimeKey,
  type PodRecord,
  type RuntimeFingerprint,
} from '@warmpod/domain';
import { CheckpointStore, RuncCheckpointer, WritableLayerArchive } from '@warmpod/node-runtime';
import { createLogger } from '@warmpod/observability';
import { CheckpointRepository } from '@warmpod/store';
import { dropKeys, redisOptions } from '@warmpod/devkit';
import { CheckpointFailedError, PodCheckpoints } from './pod-checkpoints';
import { checkpointablePod } from './testing/checkpointable-pod';

/** A checkpoint store whose reads fail with `code`, as a failing disk or a permission slip makes them. */
class FailingReads extends CheckpointStore {
  constructor(
    dataDir: string,
    private readonly code: string,
  ) {
    super({ dataDir });
  }
  override async get(): Promise<undefined> {
    throw Object.assign(new Error(`${this.code}: injected read error`), { code: this.code });
  }
}

const prefix = `t-${randomUUID().slice(0, 8)}:`;
const NODE = 'node-ck';
const logger = createLogger({ service: 'pod-checkpoints-int', level: 'silent' });
const RUNTIME: RuntimeFingerprint = {
  arch: 'x64',
  cpuFlags: ['sse4_2'],
  kernel: '6.1.0-28-amd64',
  criuVersion: '3.17.1',
  criuMode: 'breakpoints',
  runcVersion: '1.1.5',
};
const UPGRADED: RuntimeFingerprint = { ...RUNTIME, criuVersion: '4.0' };
const HOUR = 3_600_000;

let redis: Redis;
let dataDir: string;
let records: CheckpointRepository;
let store: CheckpointStore;

const pod = (overrides: Partial<PodRecord> = {}): PodRecord => checkpointablePod({ node: NODE, ...overrides });

/** `null`: a node whose `criu check` failed. */
function checkpoints(runtime: RuntimeFingerprint | null = RUNTIME, keepPerKey = 2, files: CheckpointStore = store): PodCheckpoints {
  const runtimeOptions = { runcRoot: join(dataDir, 'runc'), cgroupParent: 'warmpod-ck-test', logger };
  const tools = {
    checkpointer: new RuncCheckpointer(runtimeOptions),
    archive: new WritableLayerArchive({ logger }),
    store: files,
  };
  return new PodCheckpoints({
    nodeId: NODE,
    runtime: runtime ?? undefined,
    records,
    tools,
    sandboxes: { upperDir: (id: string) => join(dataDir, 'pods', id, 'upper') },
    retention: { keepPerKey, maxAgeMs: 24 * HOUR, diskBudgetBytes: 10 * 2 ** 20, quarantineAfter: 2 },
    logger,
  });
}

/** A checkpoint as a finished `take` leaves it: files committed in the store, record available. */
async function stored(p: PodRecord, opts: { runtime?: RuntimeFingerprint; createdAt?: Date; files?: boolean } = {}): Promise<string> {
  const runtime = opts.runtime ?? RUNTIME;
  const id = newId('ckpt');
  const key = checkpointKey({ tenant: p.tenant, digest: p.image.digest, spec: p.spec, runtime });
  const createdAt = (opts.createdAt ?? new Date()).toISOString();
  const specKey = checkpointSpecKey({ tenant: p.tenant, digest: p.image.digest, spec: p.spec });
  await records.create({
    id,
    key,
    specKey,
    runtime: runtimeKey(runtime),
    tenant: p.tenant,
    node: NODE,
    pod: p.id,
    digest: p.image.digest,
    createdAt,
  });
  if (opts.files !== false) {
    const draft = await store.begin(p.tenant, id);
    await mkdir(draft.imagesDir, { mode: 0o700 });
    await writeFile(join(draft.imagesDir, 'inventory.img'), 'criu');
    await writeFile(draft.layerArchivePath, 'tar');
    await draft.commit({ key, digest: p.image.digest, podId: p.id });
  }
  const moved = await records.markAvailable(id, 4096);
  assert.equal(moved.applied, true);
  return id;
}

before(async () => {
  redis = new Redis({ ...redisOptions(), maxRetriesPerRequest: null });
  dataDir = await mkdtemp(join(tmpdir(), 'warmpod-ck-'));
  records = new CheckpointRepository(redis, prefix, { quarantineAfter: 2 });
  store = new CheckpointStore({ dataDir, logger });
});

after(async () => {
  await dropKeys(redis, prefix);
  await redis.quit();
  await rm(dataDir, { recursive: true, force: true });
});

describe('PodCheckpoints (real Redis and checkpoint store; CRIU itself runs in the checkpoint e2e)', () => {
  test('finds the newest restorable checkpoint of the pod key on this node, with its files', async () => {
    const first = pod();
    const older = await stored(first, { createdAt: new Date(Date.now() - HOUR) });
    const newer = await stored(first);
    const later = pod({ id: newId('pod'), spec: first.spec });
    const found = await checkpoints().findRestorable(later);
    assert.ok(found && !('remote' in found), 'a checkpoint of this node, not one to fetch');
    assert.equal(found.record.id, newer);
    assert.equal(found.sourcePodId, first.id);
    assert.equal((await stat(found.imagesDir)).mode & 0o777, 0o700);
    assert.notEqual(older, newer);
  });

  test('a record whose files are gone is forgotten and the start goes on without it', async () => {
    const p = pod({ spec: normaliseSpec({ image: 'app:latest', args: ['files-gone'] }) });
    const id = await stored(p, { files: false });
    assert.equal(await checkpoints().findRestorable(p), undefined);
    const record = await records.get(id);
    assert.equal(record?.state, 'deleted');
    assert.equal(record?.reason, 'files missing on the node');
  });

  test('a read error of the files (EIO, EACCES) is no proof they are gone: the record stays, the start goes on without it', async () => {
    const p = pod({ spec: normaliseSpec({ image: 'app:latest', args: ['disk-hiccup'] }) });
    const id = await stored(p);
    for (const code of ['EIO', 'EACCES']) {
      assert.equal(await checkpoints(RUNTIME, 2, new FailingReads(dataDir, code)).findRestorable(p), undefined);
      assert.equal((await records.get(id))?.state, 'available', `${code} leaves the checkpoint available`);
    }
    assert.equal((await checkpoints().findRestorable(p))?.record.id, id, 'once the disk answers again it is restored');
  });

  test('another runtime (CRIU upgraded) neither restores nor reports old checkpoints', async () => {
    const p = pod({ spec: normaliseSpec({ image: 'app:latest', args: ['upgrade'] }) });
    const id = await stored(p);
    assert.equal((await checkpoints(UPGRADED).findRestorable(p))?.record.id, undefined);
    assert.ok(!(await checkpoints(UPGRADED).inventory()).some((c) => c.id === id));
    const reported = (await checkpoints().inventory()).find((c) => c.id === id);
    assert.deepEqual(reported, {
      id,
      key: checkpointSpecKey({ tenant: p.tenant, digest: p.image.digest, spec: p.spec }),
      state: 'available',
      sizeBytes: 4096,
    });
  });

  test('a node without working CRIU reports nothing and refuses to take one', async () => {
    const cannot = checkpoints(null);
    assert.equal(cannot.capable, false);
    assert.deepEqual(await cannot.inventory(), []);
    assert.equal(await cannot.findRestorable(pod()), undefined);
    await assert.rejects(cannot.take(pod()), CheckpointFailedError);
  });

  test('restore failures count; after k the checkpoint is quarantined, its files removed, and it is not offered again', async () => {
    const p = pod({ spec: normaliseSpec({ image: 'app:latest', args: ['flaky'] }) });
    const id = await stored(p);
    const ck = checkpoints();
    const first = await ck.findRestorable(p);
    await ck.restoreFailed(first!.record, 'criu: corrupted pages');
    assert.equal((await records.get(id))?.state, 'restore_failed');
    assert.equal((await ck.findRestorable(p))?.record.id, id, 'one failure: still offered');
    await ck.restoreFailed(first!.record, 'criu: corrupted pages');
    assert.equal(await ck.findRestorable(p), undefined);
    const record = await records.get(id);
    assert.equal(record?.state, 'deleted');
    assert.match(record?.reason ?? '', /quarantined/);
    assert.equal(await store.get(p.tenant, id), undefined);
  });

  test('retention keeps the newest N per key; delete-checkpoint removes files and is safe twice', async () => {
    const p = pod({ spec: normaliseSpec({ image: 'app:latest', args: ['retention'] }) });
    const ids = [];
    for (let i = 3; i >= 1; i--) ids.push(await stored(p, { createdAt: new Date(Date.now() - i * 60_000) }));
    const ck = checkpoints(RUNTIME, 2);
    assert.ok((await ck.applyRetention()) >= 1);
    assert.equal((await records.get(ids[0]!))?.state, 'deleted');
    assert.equal(await store.get(p.tenant, ids[0]!), undefined);
    assert.equal((await records.get(ids[2]!))?.state, 'available');
    await ck.remove(ids[2]!);
    await ck.remove(ids[2]!);
    assert.equal((await records.get(ids[2]!))?.state, 'deleted');
    assert.equal(await store.get(p.tenant, ids[2]!), undefined);
  });

  test('at start, files without a live record are removed', async () => {
    const p = pod({ spec: normaliseSpec({ image: 'app:latest', args: ['orphan'] }) });
    const id = await stored(p);
    await records.remove(id);
    const keep = await stored(p);
    assert.ok((await checkpoints().sweepOrphans()) >= 1);
    assert.equal(await store.get(p.tenant, id), undefined);
    assert.ok(await store.get(p.tenant, keep));
  });
});
