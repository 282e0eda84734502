import { randomBytes } from 'node:crypto';
import { Queue, type Job } from 'bullmq';
import { INTAKE_QUEUE, INTAKE_QUEUES, WarmpodQueueClient, type ProducerConnection } from '@warmpod/client';
import { applyAclUsers, connectRedis, intakeConsumerUser, intakeProducerUser, Keys, redisUrlAs, removeAclUsers } from '@warmpod/store';
import { REDIS_URL } from './harness';

export interface IntakeUsers {
  /** The consumer's URL (its own ACL user), for INTAKE_REDIS_URL. */
  consumerUrl: string;
  producers: Record<string, ProducerConnection>;
  /** Removes the ACL users. */
  remove(): Promise<void>;
}

/** Real Redis ACL users for a test prefix: one producer per tenant and the door's consumer. */
export async function intakeUsers(prefix: string, tenants: string[]): Promise<IntakeUsers> {
  const secret = () => randomBytes(16).toString('hex');
  const consumer = intakeConsumerUser(prefix, secret());
  const producers = tenants.map((t) => ({ tenant: t, user: intakeProducerUser(prefix, t, secret(), INTAKE_QUEUES) }));
  const admin = connectRedis(REDIS_URL, 'intake-test-admin', 'producer');
  try {
    await applyAclUsers(admin, [consumer, ...producers.map((p) => p.user)]);
  } finally {
    admin.disconnect();
  }
  const keys = new Keys(prefix);
  return {
    consumerUrl: redisUrlAs(REDIS_URL, consumer),
    producers: Object.fromEntries(
      producers.map((p) => [
        p.tenant,
        {
          url: redisUrlAs(REDIS_URL, p.user),
          queuePrefix: keys.intakePrefix(p.tenant),
          ownQueuesPrefix: keys.tenantQueuesPrefix(p.tenant),
        },
      ]),
    ),
    remove: async () => {
      const redis = connectRedis(REDIS_URL, 'intake-test-admin', 'producer');
      try {
        await removeAclUsers(redis, [consumer.name, ...producers.map((p) => p.user.name)]);
      } finally {
        redis.disconnect();
      }
    },
  };
}

/** A producer on a queue with the default (unrestricted) user: for prefixes whose test needs no ACL. */
export function adminClient(prefix: string, tenant: string): WarmpodQueueClient {
  const keys = new Keys(prefix);
  return new WarmpodQueueClient({
    url: REDIS_URL,
    queuePrefix: keys.intakePrefix(tenant),
    ownQueuesPrefix: keys.tenantQueuesPrefix(tenant),
  });
}

/** Waits for a job to finish; resolves with how it ended (never rejects on the job's failure). */
export async function settle(
  client: WarmpodQueueClient,
  job: Job,
): Promise<{ ok: true; value: unknown } | { ok: false; reason: string; attemptsMade: number }> {
  try {
    return { ok: true, value: await client.finished(job) };
  } catch (error) {
    const again = await client.queue.getJob(String(job.id));
    return { ok: false, reason: error instanceof Error ? error.message : String(error), attemptsMade: again?.attemptsMade ?? -1 };
  }
}

/** Polls until `read` gives a value, or fails after the deadline (a state we can observe, not a guess). */
export async function eventually<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A queue on `prefix` opened with a given connection URL (to try what a user may not do). */
export function queueAs(url: string, prefix: string, name = INTAKE_QUEUE): Queue {
  return new Queue(name, { connection: { url, maxRetriesPerRequest: 1 }, prefix, skipMetasUpdate: true, skipVersionCheck: true });
}
