import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { messageOf, type Logger } from '@warmpod/observability';
import type { RegistryClient } from '@warmpod/registry';
import { ImageRepository, PodImageUsage, PodRepository, ProtectedDigests, PullRepository, type NodeRepository } from '@warmpod/store';
import { ImageBudget } from './image-budget';
import { ImageLastUse } from './image-last-use';
import { ImagePuller, type ImagePullerDeps } from './image-puller';
import type { NodeRuntime } from './pod-sandbox';

export interface NodeImagesOptions {
  nodeId: string;
  dataDir: string;
  prefix: string;
  budgetBytes: number;
  redis: Redis;
  rt: Pick<NodeRuntime, 'cache' | 'runc'>;
  nodes: NodeRepository;
  registry: RegistryClient;
  /** The node's images changed (a pull, an eviction): tell the scheduler's view soon. */
  reportImagesChange(): void;
  logger: Logger;
  metrics?: ImagePullerDeps['metrics'];
}

export interface NodeImages {
  puller: ImagePuller;
  lastUse: ImageLastUse;
  /** A pod started on this node: its image was just used. */
  onPodStarted(podId: string): void;
}

/**
 * Wires the node's image warming: the disk budget (what pods here use comes
 * from reservations and running containers; what pins protect, from the
 * prepuller's per-node set), the last-use order it evicts in, and the puller.
 */
export async function nodeImages(o: NodeImagesOptions): Promise<NodeImages> {
  const pulls = new PullRepository(o.redis, o.prefix);
  const pods = new PodRepository(o.redis, o.prefix);
  const usage = new PodImageUsage(o.redis, o.prefix);
  const pinned = new ProtectedDigests(o.redis, o.prefix);
  const lastUse = new ImageLastUse(join(o.dataDir, 'image-last-use.json'), o.logger);
  await lastUse.load();
  const budget = new ImageBudget({
    budgetBytes: o.budgetBytes,
    cache: o.rt.cache,
    inUse: async () => {
      const runningPods = (await o.rt.runc.list()).map((c) => c.id);
      return (await usage.byNode([{ id: o.nodeId, runningPods }])).get(o.nodeId) ?? new Set();
    },
    reservedUse: async () => (await usage.byNode([{ id: o.nodeId, runningPods: [] }])).get(o.nodeId) ?? new Set(),
    protectedDigests: async () => new Set(await pinned.get(o.nodeId)),
    lastUse,
    forgetPull: (digest) => pulls.forget(o.nodeId, digest),
    onEvicted: o.reportImagesChange,
    logger: o.logger,
  });
  const puller = new ImagePuller({
    nodeId: o.nodeId,
    cache: o.rt.cache,
    pulls,
    nodes: o.nodes,
    images: new ImageRepository(o.redis, o.prefix),
    registry: o.registry,
    budget,
    lastUse,
    reportChange: o.reportImagesChange,
    logger: o.logger,
    ...(o.metrics ? { metrics: o.metrics } : {}),
  });
  const onPodStarted = (podId: string): void => {
    pods
      .get(podId)
      .then((pod) => {
        if (pod?.node === o.nodeId && pod.phase === 'Running') lastUse.touch(pod.image.digest);
      })
      .catch((error: unknown) => o.logger.warn({ podId, err: messageOf(error) }, 'image last use not recorded'));
  };
  return { puller, lastUse, onPodStarted };
}
