import type { Redis } from 'ioredis';
import type { Resources } from '@warmpod/domain';
import { Keys } from './keys';
import { parseImageEntries, readLayers, withLayers, type CachedImage, type LayerInfo } from './node-images';
import { allocatedOf, capacityOf, decodeNodeFields, NODE_FACT_FIELDS, type NodeCheckpoint } from './node-record';
import { fieldList, pipelineReplies, stringHash } from './pipeline-replies';

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
  /** Bumped by every change of the node's usage (see usageAfterRelease.lua). */
  usageRev: number;
  /** Changes whenever the node's image inventory may have: re-read the images only then. */
  imagesRev: string;
}

const BATCH = 500;
const LAYER_CACHE_MAX = 100_000;

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
        pipeline.hmget(this.keys.node(id), ...NODE_FACT_FIELDS).hmget(this.keys.nodeUsage(id), 'cpuMilli', 'memoryMiB', 'gpu', 'rev');
      const replies = pipelineReplies(await pipeline.exec());
      batch.forEach((id, k) => {
        out.push(toFacts(id, fieldList.parse(replies[2 * k]), fieldList.parse(replies[2 * k + 1])));
      });
    }
    return out;
  }

  /** Liveness fields of each node (one pipeline). */
  async heartbeats(ids: readonly string[]): Promise<Array<{ heartbeatAt?: string; lostAt?: string }>> {
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.node(id), 'heartbeatAt', 'lostAt');
    const replies = pipelineReplies(await pipeline.exec());
    return ids.map((_, i) => {
      const [heartbeatAt, lostAt] = fieldList.parse(replies[i]);
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
      const replies = pipelineReplies(await pipeline.exec());
      const entries = batch.map((_, k) => parseImageEntries(stringHash.parse(replies[k])));
      const wanted = entries.flatMap((list) => list.filter((e) => e.layerCount > 0 && !e.inlineLayers).map((e) => e.digest));
      if (this.layers.size > LAYER_CACHE_MAX) this.layers.clear();
      const layers = await readLayers(this.redis, this.keys, wanted, this.layers);
      for (const list of entries) out.push(withLayers(list, layers));
    }
    return out;
  }
}

function toFacts(id: string, node: Array<string | null>, usage: Array<string | null>): NodeFacts | undefined {
  const f = decodeNodeFields(Object.fromEntries(NODE_FACT_FIELDS.map((field, i) => [field, node[i]])));
  if (!f) return undefined;
  const [cpuMilli, memoryMiB, gpu, rev] = usage;
  return {
    id,
    labels: f.labels,
    capacity: capacityOf(f),
    capabilities: f.capabilities,
    cordoned: f.cordoned,
    heartbeatAt: f.heartbeatAt,
    ...(f.lostAt ? { lostAt: f.lostAt } : {}),
    checkpoints: f.checkpoints ?? [],
    allocated: allocatedOf({ cpuMilli, memoryMiB, gpu }),
    usageRev: Number(rev ?? 0),
    // A new registration starts over the counter, so it is part of the revision.
    imagesRev: `${f.registeredAt ?? ''}#${f.imagesRev ?? 0}`,
  };
}
