import { Inject, Injectable } from '@nestjs/common';
import { perQuota, type QuotaName, type QuotaValues } from '@warmpod/domain';
import { TenantQuotas } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { CONFIG } from '../providers';
import { limitsOf } from './quota-book';

export type QuotaReport = { tenant: string; quotas: Record<QuotaName, { limit: number; used: number }> };

/**
 * A tenant's limits (the operator's quotas file) and, for `GET /v1/quota`,
 * its use. The admission scripts check the same limits against the same
 * use, computed in the store from the records.
 */
@Injectable()
export class TenantLimits {
  constructor(
    @Inject(CONFIG) private readonly config: GatewayConfig,
    private readonly quotas: TenantQuotas,
  ) {}

  of(tenant: string): QuotaValues {
    return limitsOf(this.config.quotas, tenant);
  }

  async report(tenant: string): Promise<QuotaReport> {
    const [limits, used] = [this.of(tenant), await this.quotas.use(tenant)];
    return { tenant, quotas: perQuota((name) => ({ limit: limits[name], used: used[name] })) };
  }
}
