import type { Redis } from 'ioredis';
import { Keys } from './keys';
import { pipelineReplies, stringList } from './pipeline-replies';
import { replaceProtectedSet } from './scripts/prepull-scripts';

/**
 * Digests a node's cache GC must never evict, one Redis set per node:
 * `<prefix>prepull:protected:<node>`. The prepuller rewrites a node's set
 * whenever it changes (active pins' digests targeted at the node, plus
 * superseded digests still rotating there); `<prefix>prepull:protected:nodes`
 * lists the nodes that have a set, so sets of departed nodes are removed.
 *
 * Readers (the agent's GC) call `isProtected` / `get`: one SISMEMBER or
 * SMEMBERS. A node without a set has nothing protected by pins; running pods
 * protect their own digests on the agent's side.
 */
export class ProtectedDigests {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async get(node: string): Promise<string[]> {
    return (await this.redis.smembers(this.keys.protectedDigests(node))).sort();
  }

  async isProtected(node: string, digest: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.protectedDigests(node), digest)) === 1;
  }

  /**
   * Makes the stored sets equal `byNode` (every node with a set must be in
   * it, with an empty set when nothing is protected). Each node's set is
   * replaced in one step, so a reader never sees it half-written. Returns the
   * nodes whose set changed.
   */
  async sync(byNode: ReadonlyMap<string, ReadonlySet<string>>): Promise<string[]> {
    const known = await this.redis.smembers(this.keys.protectedNodes());
    const nodes = [...new Set([...known, ...byNode.keys()])].sort();
    const read = this.redis.pipeline();
    for (const node of nodes) read.smembers(this.keys.protectedDigests(node));
    const replies = pipelineReplies(await read.exec());
    const changed: string[] = [];
    nodes.forEach((node, i) => {
      const stored = new Set(stringList.parse(replies[i]));
      const wanted = byNode.get(node) ?? new Set<string>();
      if (stored.size === wanted.size && [...wanted].every((d) => stored.has(d))) return;
      changed.push(node);
    });
    const departed = known.filter((node) => !byNode.has(node));
    // Each set is replaced by one script; the commands go out together (ioredis writes them back to back).
    await Promise.all([
      ...changed.map((node) =>
        replaceProtectedSet.run(
          this.redis,
          { protected: this.keys.protectedDigests(node), protectedNodes: this.keys.protectedNodes() },
          { node },
          { args: [...(byNode.get(node) ?? [])] },
        ),
      ),
      ...(departed.length > 0 ? [this.redis.srem(this.keys.protectedNodes(), ...departed)] : []),
    ]);
    return changed;
  }
}
