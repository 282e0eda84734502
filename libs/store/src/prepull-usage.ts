import type { Redis } from 'ioredis';
import { Keys } from './keys';
import type { NodeRecord } from './node-record';
import { podDefinitionSchema } from './pod-record';
import { pipelineReplies, stringList } from './pipeline-replies';

const CACHE_LIMIT = 50_000;

/**
 * Which digests pods on a node use: pods holding a reservation there
 * (Scheduled through Running) and pods the agent reports running. A pod's
 * spec is immutable, so its digest is cached per pod id.
 */
export class PodImageUsage {
  private readonly keys: Keys;
  private readonly digestOfPod = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /** Node id -> digests its pods use. */
  async byNode(nodes: ReadonlyArray<Pick<NodeRecord, 'id' | 'runningPods'>>): Promise<Map<string, Set<string>>> {
    const read = this.redis.pipeline();
    for (const node of nodes) read.hkeys(this.keys.nodeReservations(node.id));
    const replies = pipelineReplies(await read.exec());
    const podsOf = new Map<string, Set<string>>();
    nodes.forEach((node, i) => podsOf.set(node.id, new Set([...stringList.parse(replies[i]), ...(node.runningPods ?? [])])));
    await this.learn([...new Set([...podsOf.values()].flatMap((s) => [...s]))]);
    const usage = new Map<string, Set<string>>();
    for (const [node, pods] of podsOf) {
      const digests = new Set<string>();
      for (const pod of pods) {
        const digest = this.digestOfPod.get(pod);
        if (digest) digests.add(digest);
      }
      usage.set(node, digests);
    }
    return usage;
  }

  private async learn(podIds: string[]): Promise<void> {
    const unknown = podIds.filter((id) => !this.digestOfPod.has(id));
    if (unknown.length === 0) return;
    if (this.digestOfPod.size + unknown.length > CACHE_LIMIT) this.digestOfPod.clear();
    const read = this.redis.pipeline();
    for (const id of unknown) read.get(this.keys.podSpec(id));
    const replies = pipelineReplies(await read.exec());
    unknown.forEach((id, i) => {
      const digest = digestOf(replies[i]);
      if (digest) this.digestOfPod.set(id, digest);
    });
  }
}

const specImage = podDefinitionSchema.pick({ image: true });

/** The pinned digest of a stored pod definition; undefined for a pod gone or unreadable. */
function digestOf(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    const parsed = specImage.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data.image.digest : undefined;
  } catch {
    return undefined;
  }
}
