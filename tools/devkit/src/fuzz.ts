import type { Redis } from 'ioredis';

/**
 * Generated bad-input tests (fast-check properties): how many inputs each
 * property tries. Lean by default, so `npm test` stays quick;
 * `WARMPOD_FUZZ_RUNS=<n>` (`npm run test:fuzz` sets it) runs every property
 * n times instead, for a long run.
 */
export function fuzzRuns(leanRuns: number, env: NodeJS.ProcessEnv = process.env): number {
  const asked = Number(env['WARMPOD_FUZZ_RUNS'] ?? '');
  return Number.isInteger(asked) && asked > 0 ? asked : leanRuns;
}

/** Counts generated inputs per surface; `line()` is what a spec prints so a run can report the figures. */
export class FuzzTally {
  private readonly counts = new Map<string, number>();

  add(surface: string, n = 1): void {
    this.counts.set(surface, (this.counts.get(surface) ?? 0) + n);
  }

  get(surface: string): number {
    return this.counts.get(surface) ?? 0;
  }

  /** `fuzz: <surface> = <n> inputs` per surface, then the total. */
  lines(): string[] {
    const total = [...this.counts.values()].reduce((a, b) => a + b, 0);
    return [...[...this.counts].map(([surface, n]) => `fuzz: ${surface} = ${n} inputs`), `fuzz: total = ${total} inputs`];
  }
}

/**
 * Every key under `prefix` with its type and content, in a stable form:
 * what a refused request must leave exactly as it was (nothing added,
 * removed or changed). Keys matching `ignore` (relative to the prefix) are left out.
 */
export async function keyContents(redis: Redis, prefix: string, ignore?: RegExp): Promise<Record<string, string>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    keys.push(...batch.filter((k) => !ignore?.test(k.slice(prefix.length))));
    cursor = next;
  } while (cursor !== '0');
  keys.sort();
  // Two round trips whatever the number of keys: types, then contents.
  const types = (
    await pipelined(
      redis,
      keys.map((k) => ['type', k]),
    )
  ).map(String);
  const replies = await pipelined(
    redis,
    keys.map((k, i) => READ[types[i]!]?.(k) ?? ['type', k]),
  );
  return Object.fromEntries(keys.map((k, i) => [k.slice(prefix.length), `${types[i]} ${stable(types[i]!, replies[i])}`]));
}

const READ: Record<string, (key: string) => string[]> = {
  string: (k) => ['get', k],
  hash: (k) => ['hgetall', k],
  set: (k) => ['smembers', k],
  zset: (k) => ['zrange', k, '0', '-1', 'WITHSCORES'],
  list: (k) => ['lrange', k, '0', '-1'],
  stream: (k) => ['xrange', k, '-', '+'],
};

async function pipelined(redis: Redis, commands: string[][]): Promise<unknown[]> {
  if (commands.length === 0) return [];
  const results = (await redis.pipeline(commands).exec()) ?? [];
  return results.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}

/** Order-free replies (hash fields, set members) sorted, so equal content reads equal. */
function stable(type: string, reply: unknown): string {
  if (type === 'hash' && reply && typeof reply === 'object') {
    const h = reply as Record<string, string>;
    return JSON.stringify(
      Object.keys(h)
        .sort()
        .map((f) => [f, h[f]]),
    );
  }
  if (type === 'set' && Array.isArray(reply)) return JSON.stringify([...(reply as string[])].sort());
  return JSON.stringify(reply);
}
