import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Resources } from '@warmpod/domain';
import { Keys } from './keys';
import { parseImageEntries, parseJson, readLayers, withLayers, type CachedImage, type LayerInfo } from './node-images';
import type { NodeCheckpoint } from './node-repository';

/** What placement needs of a node, without its image inventory (see `NodeFactsReader.images`). */
export interface NodeFacts {
  id: string;
  labels: Record<string, string>;
  capacity: Resources;
  capabilities: Record<string, string | boolean>;
  cordoned: boolean;
  heartbeatAt: string;
  lostAt?: string;
  checkpoints: NodeCheckpoint[];
  allocated: Resources;
  /** Bumped by every change of the node's usage (see lua.ts). */
  usageRev: number;
  /** Changes whenever the node's image inventory may have: re-read the images only then. */
  imagesRev: string;
}

const FIELDS = [
  'labels',
  'capCpuMilli',
  'capMemoryMiB',
  'capGpu',
  'capabilities',
  'cordoned',
  'heartbeatAt',
  'lostAt',
  'checkpoints',
  'registeredAt',
  'imagesRev',
] as const;
const BATCH = 500;
const LAYER_CACHE_MAX = 100_000;
const checkpointsSchema = z.array(z.object({ id: z.string(), key: z.string(), state: z.string(), sizeBytes: z.number() }));

/**
 * Bulk reads of the node registry for a scheduler's placement view: small
 * fields for many nodes in one pipeline, image inventories only for the nodes
 * asked for, each digest's layers read once and kept (they never change).
 * Meant for a connection of its own, so large reads do not queue in front of
 * the placement path's commands.
 */
export class NodeFactsReader {
  private readonly keys: Keys;
  private readonly layers = new Map<string, LayerInfo[]>();

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async ids(): Promise<string[]> {
    return this.redis.smembers(this.keys.nodes());
  }

  /** Facts of each node, undefined for a node that is not registered. */
  async read(ids: readonly string[]): Promise<Array<NodeFacts | undefined>> {
    const out: Array<NodeFacts | undefined> = [];
    for (let from = 0; from < ids.length; from += BATCH) {
      const batch = ids.slice(from, from + BATCH);
      const pipeline = this.redis.pipeline();
      for (const id of batch)
        pipeline.hmget(this.keys.node(id), ...FIELDS).hmget(this.keys.nodeUsage(id), 'cpuMilli', 'memoryMiB', 'gpu', 'rev');
      const replies = (await pipeline.exec()) ?? [];
      batch.forEach((id, k) => {
        const node = (replies[2 * k]?.[1] ?? []) as Array<string | null>;
        const usage = (replies[2 * k + 1]?.[1] ?? []) as Array<string | null>;
        out.push(toFacts(id, node, usage));
      });
    }
    return out;
  }

  /** Liveness fields of each node (one pipeline). */
  async heartbeats(ids: readonly string[]): Promise<Array<{ heartbeatAt?: string; lostAt?: string }>> {
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.node(id), 'heartbeatAt', 'lostAt');
    const replies = (await pipeline.exec()) ?? [];
    return ids.map((_, i) => {
      const [heartbeatAt, lostAt] = (replies[i]?.[1] ?? []) as Array<string | null>;
      return { ...(heartbeatAt ? { heartbeatAt } : {}), ...(lostAt ? { lostAt } : {}) };
    });
  }

  /** The cached images of each node, with their layers. */
  async images(ids: readonly string[]): Promise<CachedImage[][]> {
    const out: CachedImage[][] = [];
    for (let from = 0; from < ids.length; from += BATCH) {
      const batch = ids.slice(from, from + BATCH);
      const pipeline = this.redis.pipeline();
      for (const id of batch) pipeline.hgetall(this.keys.nodeImages(id));
      const replies = (await pipeline.exec()) ?? [];
      const entries = batch.map((_, k) => parseImageEntries((replies[k]?.[1] ?? {}) as Record<string, string>));
      const wanted = entries.flatMap((list) => list.filter((e) => e.layerCount > 0 && !e.inlineLayers).map((e) => e.digest));
      if (this.layers.size > LAYER_CACHE_MAX) this.layers.clear();
      const layers = await readLayers(this.redis, this.keys, wanted, this.layers);
      for (const list of entries) out.push(withLayers(list, layers));
    }
    return out;
  }
}

function toFacts(id: string, n: Array<string | null>, u: Array<string | null>): NodeFacts | undefined {
  const [labels, cpu, memory, gpu, capabilities, cordoned, heartbeatAt, lostAt, checkpoints, registeredAt, imagesRev] = n;
  if (!labels || !cpu || !memory || !gpu || !capabilities || !heartbeatAt) return undefined;
  return {
    id,
    labels: JSON.parse(labels) as Record<string, string>,
    capacity: { cpu: Number(cpu) / 1000, memoryMiB: Number(memory), gpu: Number(gpu) },
    capabilities: JSON.parse(capabilities) as Record<string, string | boolean>,
    cordoned: cordoned === 'true',
    heartbeatAt,
    ...(lostAt ? { lostAt } : {}),
    checkpoints: parseJson(checkpoints, checkpointsSchema) ?? [],
    allocated: { cpu: Number(u[0] ?? 0) / 1000, memoryMiB: Number(u[1] ?? 0), gpu: Number(u[2] ?? 0) },
    usageRev: Number(u[3] ?? 0),
    // A new registration starts over the counter, so it is part of the revision.
    imagesRev: `${registeredAt ?? ''}#${imagesRev ?? 0}`,
  };
}
