import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '@warmpod/observability';
import { Keys } from '@warmpod/store';

const WAKE_DEBOUNCE_MS = 50;
const WAKE_BATCH = 200;

/**
 * Pods waiting for room. Their schedule-pod jobs sit delayed in BullMQ with
 * a capped backoff; when capacity is freed or a node joins or changes, the
 * waiting jobs are promoted at once instead of waiting out their delay.
 */
export class Backlog {
  private readonly keys: Keys;
  private readonly key: string;
  private subscriber?: Redis;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly queue: Queue,
    prefix: string,
    private readonly logger: Logger,
  ) {
    this.keys = new Keys(prefix);
    this.key = `${prefix}backlog`;
  }

  async add(podId: string, jobId: string): Promise<void> {
    await this.redis.hset(this.key, podId, jobId);
  }

  async remove(podId: string): Promise<void> {
    await this.redis.hdel(this.key, podId);
  }

  async start(): Promise<void> {
    this.subscriber = this.redis.duplicate();
    await this.subscriber.subscribe(this.keys.capacityFreed(), this.keys.nodesChanged());
    this.subscriber.on('message', () => this.scheduleWake());
  }

  private scheduleWake(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.wake().catch((e: unknown) => this.logger.warn({ err: (e as Error).message }, 'backlog wake failed'));
    }, WAKE_DEBOUNCE_MS);
  }

  /** Promotes delayed schedule-pod jobs of waiting pods; returns how many moved. */
  async wake(): Promise<number> {
    const entries = Object.entries(await this.redis.hgetall(this.key)).slice(0, WAKE_BATCH);
    let promoted = 0;
    for (const [podId, jobId] of entries) {
      const job = await this.queue.getJob(jobId);
      if (!job) {
        await this.remove(podId);
        continue;
      }
      if (await job.isDelayed()) {
        // Another replica may promote it first; that is fine.
        await job.promote().then(() => promoted++, () => undefined);
      }
    }
    return promoted;
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.subscriber?.quit().catch(() => undefined);
  }
}
