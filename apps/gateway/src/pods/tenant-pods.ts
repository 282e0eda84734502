import { Injectable } from '@nestjs/common';
import { POD_ID, type PodRecord } from '@warmpod/domain';
import { PodRepository } from '@warmpod/store';
import { ApiError } from '../http/api-error';
import { matches, type PodFilter } from './list-query';

/** How far back a filtered listing looks; an unfiltered one reads only what it returns. */
const FILTER_SCAN = 1_000;

/** Reads of one tenant's pods. Another tenant's pod is "not found", never "forbidden". */
@Injectable()
export class TenantPods {
  constructor(private readonly pods: PodRepository) {}

  async get(tenant: string, id: string): Promise<PodRecord> {
    const pod = POD_ID.test(id) ? await this.pods.get(id) : undefined;
    if (!pod || pod.tenant !== tenant) throw ApiError.notFound('pod');
    return pod;
  }

  async list(tenant: string, filter: PodFilter): Promise<PodRecord[]> {
    const filtered = filter.phase !== undefined || filter.labels.length > 0;
    const pods = await this.pods.listByTenant(tenant, filtered ? FILTER_SCAN : filter.limit);
    return pods.filter((p) => matches(p, filter)).slice(0, filter.limit);
  }
}
