import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applyAclUsers, connectRedis, removeAclUsers, serviceUser, WARMPOD_SERVICES, type WarmpodService } from '@warmpod/store';

/** The services' Redis users of a local cluster: the environment each service gets, and their removal. */
export interface LocalServiceUsers {
  /** WARMPOD_REDIS_USERNAME and WARMPOD_REDIS_PASSWORD_FILE of a service. */
  envOf(service: WarmpodService): Record<string, string>;
  remove(): Promise<void>;
}

/**
 * Creates (or replaces) one Redis ACL user per service with a fresh
 * password, written to a file only this user can read (as a Secret mounted
 * into a pod would be), over the admin connection `adminUrl` (the default
 * user of the cluster's own Redis).
 */
export async function setUpServiceUsers(adminUrl: string, prefix: string, dir: string): Promise<LocalServiceUsers> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const users = WARMPOD_SERVICES.map((service) => ({ service, user: serviceUser(prefix, service, randomBytes(18).toString('base64url')) }));
  const file = (service: WarmpodService) => join(dir, `${service}.password`);
  for (const { service, user } of users) await writeFile(file(service), user.password, { mode: 0o600 });
  const admin = connectRedis(adminUrl, 'local-cluster-acl', 'producer');
  try {
    await applyAclUsers(
      admin,
      users.map((u) => u.user),
    );
  } catch (error) {
    throw new Error(`could not create the services' Redis ACL users: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    admin.disconnect();
  }
  return {
    envOf: (service) => ({ WARMPOD_REDIS_USERNAME: serviceUser(prefix, service, '').name, WARMPOD_REDIS_PASSWORD_FILE: file(service) }),
    remove: async () => {
      const redis = connectRedis(adminUrl, 'local-cluster-acl', 'producer');
      try {
        await removeAclUsers(
          redis,
          users.map((u) => u.user.name),
        );
      } finally {
        redis.disconnect();
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
