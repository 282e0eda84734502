import { randomBytes } from 'node:crypto';
import { INTAKE_QUEUES, type ProducerConnection } from '@warmpod/client';
import { applyAclUsers, connectRedis, intakeConsumerUser, intakeProducerUser, Keys, redisUrlAs, removeAclUsers } from '@warmpod/store';

/** The queue door of a local cluster: Redis ACL users made for its tenants, and what the gateway and producers get. */
export interface LocalQueueDoor {
  /** Environment for the gateway: its tenants' intake queues, consumed as the door's own Redis user. */
  gatewayEnv: Record<string, string>;
  /** Per tenant: the producer's Redis URL (its own user) and its queue prefixes. */
  producers: Record<string, ProducerConnection>;
  /** Removes the users (when the cluster stops). */
  remove(): Promise<void>;
}

/**
 * Creates (or replaces, with new passwords) one producer user per tenant and
 * the door's consumer user on the cluster's Redis, over the default user's
 * connection (the one the services use).
 */
export async function setUpQueueDoor(redisUrl: string, prefix: string, tenants: string[]): Promise<LocalQueueDoor> {
  const secret = () => randomBytes(18).toString('base64url');
  const consumer = intakeConsumerUser(prefix, secret());
  const producers = tenants.map((tenant) => ({ tenant, user: intakeProducerUser(prefix, tenant, secret(), INTAKE_QUEUES) }));
  const names = [consumer.name, ...producers.map((p) => p.user.name)];
  const admin = connectRedis(redisUrl, 'local-cluster-acl', 'producer');
  try {
    await applyAclUsers(admin, [consumer, ...producers.map((p) => p.user)]);
  } catch (error) {
    throw new Error(`could not create the queue door's Redis ACL users: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    admin.disconnect();
  }
  const keys = new Keys(prefix);
  return {
    gatewayEnv: { INTAKE_TENANTS: tenants.join(','), INTAKE_REDIS_URL: redisUrlAs(redisUrl, consumer) },
    producers: Object.fromEntries(
      producers.map(({ tenant, user }) => [
        tenant,
        { url: redisUrlAs(redisUrl, user), queuePrefix: keys.intakePrefix(tenant), ownQueuesPrefix: keys.tenantQueuesPrefix(tenant) },
      ]),
    ),
    remove: async () => {
      const redis = connectRedis(redisUrl, 'local-cluster-acl', 'producer');
      try {
        await removeAclUsers(redis, names);
      } finally {
        redis.disconnect();
      }
    },
  };
}
