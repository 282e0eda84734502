import { INTAKE_QUEUE } from '@warmpod/client';
import type { Keys } from '@warmpod/store';
import { TENANT_NAME } from '../auth/tokens';

/**
 * The tenant of an intake queue's meta key found by the door's SCAN, or
 * undefined when the part between the stem and the queue is no tenant name:
 * `*` in the SCAN pattern matches `:` too, so a producer writing
 * `<its prefix>:pods:x:pods:meta` under its own queue must not make the door
 * open a worker for a "tenant" named `alpha:pods:x`.
 */
export function strayTenantOf(keys: Keys, key: string): string | undefined {
  const stem = keys.intakeStem();
  const suffix = `:${INTAKE_QUEUE}:meta`;
  if (!key.startsWith(stem) || !key.endsWith(suffix) || key.length < stem.length + suffix.length) return undefined;
  const tenant = key.slice(stem.length, key.length - suffix.length);
  return TENANT_NAME.test(tenant) ? tenant : undefined;
}
