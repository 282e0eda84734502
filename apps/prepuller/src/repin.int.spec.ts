import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { dropKeys, redisOptions } from '@warmpod/devkit';
import { createLogger } from '@warmpod/observability';
import {
  AbandonedPulls,
  ImageRepository,
  NodeRepository,
  NodeSessions,
  PinRepository,
  PodImageUsage,
  PrepullHintBook,
  ProtectedDigests,
  PullRepository,
} from '@warmpod/store';
import { PrepullLoop } from './prepull-loop';
import { PrepullReconciler } from './prepull-reconciler';
import { RegistryRateLimiter } from './registry-rate';
import { FakeAgents } from './testing/fake-agents';

/** A rebuilt image re-pinned: the prepuller acts on the pin at once and does not hold nodes back for a seed copy. */
const prefix = `t-repin-${randomUUID().slice(0, 8)}:`;
const REGISTRY = 'registry.local:5000';
const D = (c: string) => `sha256:${c.repeat(64)}`;
const MiB = 1024 * 1024;
const NODES = ['n1', 'n2', 'n3'];
let redis: Redis;
let conn: Redis;
let loop: PrepullLoop | undefined;

before(() => {
  redis = new Redis({ ...redisOptions(), maxRetriesPerRequest: null });
  conn = new Redis({ ...redisOptions(), maxRetriesPerRequest: null });
});

after(async () => {
  await loop?.stop();
  await conn.quit();
  await dropKeys(redis, prefix);
  await redis.quit();
});

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a re-pin of a rebuilt image is dispatched to every node holding the rest of it at once, not after a window or a seed copy', async () => {
  const BASE = { digest: D('b'), sizeBytes: 100 * MiB };
  const OLD = D('0');
  const NEW = D('1');
  const nodes = new NodeRepository(redis, prefix);
  const sessions = new NodeSessions(redis, prefix);
  for (const id of NODES) {
    const registration = {
      id,
      labels: {},
      capacity: { cpu: 4, memoryMiB: 4096, gpu: 0 },
      agentUrl: 'http://127.0.0.1:1',
      capabilities: {},
    };
    await sessions.register(registration, `s-${id}`);
    await nodes.addCachedDigest(id, OLD, 101 * MiB, [BASE, { digest: D('2'), sizeBytes: 1_000 }]);
  }
  // What the gateway records when it resolves the pin: the new build shares the base, its top layer is new.
  await new ImageRepository(redis, prefix).record(NEW, {
    sizeBytes: 100 * MiB + 3_000,
    layers: [BASE, { digest: D('3'), sizeBytes: 2_000 }],
  });
  const pulls = new PullRepository(redis, prefix);
  const agents = new FakeAgents(pulls, nodes);
  const logger = createLogger({ service: 'repin-int', level: 'silent' });
  const reconciler = new PrepullReconciler(
    {
      pins: new PinRepository(conn, prefix),
      nodes: new NodeRepository(conn, prefix),
      pulls: new PullRepository(conn, prefix),
      images: new ImageRepository(conn, prefix),
      hints: new PrepullHintBook(conn, prefix),
      protectedDigests: new ProtectedDigests(conn, prefix),
      usage: new PodImageUsage(conn, prefix),
      abandoned: new AbandonedPulls(conn, prefix),
      dispatcher: agents,
      limiter: new RegistryRateLimiter(1_000),
    },
    // Pulls are held (never end), so with a seed of one only one node would ever start without the direct rule.
    {
      budget: { cluster: 10, perNode: 1 },
      readyWindowMs: 60_000,
      retryAfterMs: 60_000,
      hintTtlMs: 3_600_000,
      spread: { seeds: 1, fanout: 3, directBytes: MiB },
    },
    logger,
  );
  // Debounce and safety windows far beyond the test's deadline: only acting on the pin message at once passes.
  loop = new PrepullLoop(
    conn,
    prefix,
    reconciler,
    new NodeRepository(conn, prefix),
    { debounceMs: 600_000, resyncMs: 600_000, readyWindowMs: 60_000, errorRetryMs: 200 },
    logger,
  );
  const passes: number[] = [];
  loop.onPass(() => passes.push(Date.now()));
  await loop.start();
  await until('the first pass', () => passes.length > 0);

  await new PinRepository(redis, prefix).create({
    id: 'pin-new',
    tenant: 't1',
    requested: 'app:v1',
    reference: `${REGISTRY}/app:v1`,
    pinned: `${REGISTRY}/app@${NEW}`,
    digest: NEW,
    nodeSelector: {},
    createdAt: new Date().toISOString(),
  });
  await until('the new digest dispatched to every node', () => agents.dispatched.length === NODES.length);
  assert.deepEqual(agents.dispatched.map((d) => d.node).sort(), NODES);
  assert.ok(agents.dispatched.every((d) => d.digest === NEW));
});
