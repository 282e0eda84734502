import type { Redis } from 'ioredis';
import type { PodCharge, QuotaValues } from '@warmpod/domain';
import { Keys } from './keys';
import { tenantUse } from './scripts/quota-scripts';

export type { OverQuota } from './scripts/replies';

/**
 * How long a Lost pod that restarts stays charged: the scheduler puts it
 * back to Pending right after marking it Lost (two steps), and a quota
 * check in between must not drop its charge.
 */
export const LOST_RESTART_GRACE_MS = 60_000;

/** The script argument: a restarting pod Lost before this no longer counts. */
export function lostBeforeIso(nowMs = Date.now()): string {
  return new Date(nowMs - LOST_RESTART_GRACE_MS).toISOString();
}

/** `cpuMilli memoryMiB gpu restarts(0|1)`, as the pod ledger holds it. */
export function podChargeArg(c: PodCharge): string {
  return `${c.cpuMilli} ${c.memoryMiB} ${c.gpu} ${c.restarts ? 1 : 0}`;
}

/** `pods cpuMilli memoryMiB gpu`: the limits a pod is checked against. */
export function podLimitsArg(l: QuotaValues): string {
  return `${l.pods} ${l.cpuMilli} ${l.memoryMiB} ${l.gpu}`;
}

/**
 * A tenant's use of its quotas. Nothing here is a counter: each call
 * recomputes the use from the records (and drops ledger entries of ended
 * pods), so a use that was released twice or never is not possible, and
 * what the admission scripts check is the same number.
 */
export class TenantQuotas {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async use(tenant: string, nowMs = Date.now()): Promise<QuotaValues> {
    return tenantUse.run(
      this.redis,
      {
        quotaPods: this.keys.quotaPods(tenant),
        tenantPins: this.keys.tenantPins(tenant),
        tenantPools: this.keys.tenantPools(tenant),
        tenantCheckpoints: this.keys.tenantCheckpoints(tenant),
      },
      {
        statusStem: this.keys.podStatusStem(),
        pinStem: this.keys.pinStem(),
        poolStem: this.keys.poolStem(),
        checkpointStem: this.keys.checkpointStem(),
        lostBeforeIso: lostBeforeIso(nowMs),
      },
    );
  }
}
