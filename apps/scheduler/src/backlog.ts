import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { messageOf, type Logger } from '@warmpod/observability';
import { ChangeFeed, PodBacklog } from '@warmpod/store';

const WAKE_DEBOUNCE_MS = 50;
const WAKE_BATCH = 200;
/** Waiting pods promoted per freed reservation: one release makes room for about one pod of its size. */
const PER_RELEASE = 1;

/**
 * Pods waiting for room. Their schedule-pod jobs sit delayed in BullMQ with
 * a capped backoff; when capacity is freed or a node gains room, waiting
 * jobs are promoted at once instead of waiting out their delay. A wake
 * promotes about as many as the freed room could take (a whole batch when a
 * node gained room), taking turns through the waiting pods, so a stream of
 * releases does not re-run every waiting pod on each one.
 */
export class Backlog {
  private readonly waiting: PodBacklog;
  private readonly feed: ChangeFeed;
  private timer?: NodeJS.Timeout;
  private budget = 0;
  /** Where the next wake continues its walk through the waiting pods. */
  private cursor = '0';
  private waking?: Promise<number>;

  constructor(
    redis: Redis,
    private readonly queue: Queue,
    prefix: string,
    private readonly logger: Logger,
  ) {
    this.feed = new ChangeFeed(redis, prefix, logger);
    this.waiting = new PodBacklog(redis, prefix);
  }

  async add(podId: string, jobId: string): Promise<void> {
    await this.waiting.add(podId, jobId);
  }

  async remove(podId: string): Promise<void> {
    await this.waiting.remove(podId);
  }

  /** Listens for freed capacity; node changes that add room come through `nodeGainedRoom` (the placement view knows which do). */
  async start(): Promise<void> {
    await this.feed.subscribe({ capacityFreed: () => this.nudge(PER_RELEASE) });
  }

  /** A node joined, came back, was uncordoned or grew: any waiting pod may fit now. */
  nodeGainedRoom(): void {
    this.nudge(WAKE_BATCH);
  }

  private nudge(pods: number): void {
    this.budget = Math.min(WAKE_BATCH, this.budget + pods);
    if (this.timer || this.waking) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const budget = this.budget;
      this.budget = 0;
      this.waking = this.wake(budget)
        .catch((e: unknown) => {
          this.logger.warn({ err: messageOf(e) }, 'backlog wake failed');
          return 0;
        })
        .finally(() => {
          this.waking = undefined;
          // Releases that came in meanwhile get their own wake.
          if (this.budget > 0) this.nudge(0);
        });
    }, WAKE_DEBOUNCE_MS);
  }

  /** Promotes up to `limit` delayed schedule-pod jobs of waiting pods, continuing where the last wake stopped; returns how many moved. */
  async wake(limit = WAKE_BATCH): Promise<number> {
    const entries: Array<[string, string]> = [];
    let wrapped = false;
    while (entries.length < limit && !(wrapped && this.cursor === '0')) {
      const page = await this.waiting.page(this.cursor, Math.max(10, limit));
      if (page.cursor === '0') wrapped = true;
      this.cursor = page.cursor;
      for (const { podId, jobId } of page.entries) if (entries.length < limit) entries.push([podId, jobId]);
      if (page.cursor === '0' && entries.length === 0) break;
    }
    const moved = await Promise.all(entries.map(([podId, jobId]) => this.promote(podId, jobId)));
    return moved.filter(Boolean).length;
  }

  private async promote(podId: string, jobId: string): Promise<boolean> {
    const job = await this.queue.getJob(jobId);
    if (!job) {
      await this.remove(podId);
      return false;
    }
    // Another replica may promote it first, or it may be running: both are fine.
    return job.promote().then(
      () => true,
      () => false,
    );
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.waking;
    await this.feed.close();
  }
}
