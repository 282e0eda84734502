import type { Redis } from 'ioredis';

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
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  key(node: string): string {
    return `${this.prefix}prepull:protected:${node}`;
  }

  private indexKey(): string {
    return `${this.prefix}prepull:protected:nodes`;
  }

  async get(node: string): Promise<string[]> {
    return (await this.redis.smembers(this.key(node))).sort();
  }

  async isProtected(node: string, digest: string): Promise<boolean> {
    return (await this.redis.sismember(this.key(node), digest)) === 1;
  }

  /**
   * Makes the stored sets equal `byNode` (every node with a set must be in
   * it, with an empty set when nothing is protected). Each node's set is
   * replaced in one step, so a reader never sees it half-written. Returns the
   * nodes whose set changed.
   */
  async sync(byNode: ReadonlyMap<string, ReadonlySet<string>>): Promise<string[]> {
    const known = await this.redis.smembers(this.indexKey());
    const nodes = [...new Set([...known, ...byNode.keys()])].sort();
    const read = this.redis.pipeline();
    for (const node of nodes) read.smembers(this.key(node));
    const replies = (await read.exec()) ?? [];
    const changed: string[] = [];
    const write = this.redis.pipeline();
    nodes.forEach((node, i) => {
      const stored = new Set((replies[i]?.[1] ?? []) as string[]);
      const wanted = byNode.get(node) ?? new Set<string>();
      if (stored.size === wanted.size && [...wanted].every((d) => stored.has(d))) return;
      changed.push(node);
      write.eval(REPLACE_SET, 2, this.key(node), this.indexKey(), node, ...wanted);
    });
    for (const node of known) if (!byNode.has(node)) write.srem(this.indexKey(), node);
    if (changed.length > 0 || known.some((n) => !byNode.has(n))) await write.exec();
    return changed;
  }
}

/** KEYS: set, index. ARGV: node, members... Empty members delete the set. */
const REPLACE_SET = `
redis.call('DEL', KEYS[1])
if #ARGV > 1 then
  redis.call('SADD', KEYS[1], unpack(ARGV, 2))
  redis.call('SADD', KEYS[2], ARGV[1])
end
return 1
`;
