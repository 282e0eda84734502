import type { Redis } from 'ioredis';
import { Keys } from './keys';

/** One page of the backlog and where the next one starts ('0': the walk went round). */
export interface BacklogPage {
  cursor: string;
  /** Pod id and its schedule-pod job id. */
  entries: Array<{ podId: string; jobId: string }>;
}

/**
 * Pods waiting for room (hash `backlog`: pod id -> its delayed schedule-pod
 * job id). The scheduler lists a pod when nothing fits and walks the list
 * when capacity is freed.
 */
export class PodBacklog {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async add(podId: string, jobId: string): Promise<void> {
    await this.redis.hset(this.keys.backlog(), podId, jobId);
  }

  async remove(podId: string): Promise<void> {
    await this.redis.hdel(this.keys.backlog(), podId);
  }

  /** About `count` entries from `cursor` (HSCAN: an entry may come twice across a walk). */
  async page(cursor: string, count: number): Promise<BacklogPage> {
    const [next, flat] = await this.redis.hscan(this.keys.backlog(), cursor, 'COUNT', count);
    const entries: BacklogPage['entries'] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ podId: flat[i] ?? '', jobId: flat[i + 1] ?? '' });
    return { cursor: next, entries };
  }
}
