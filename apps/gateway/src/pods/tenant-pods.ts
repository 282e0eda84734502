import { Injectable } from '@nestjs/common';
import { POD_ID, type PodRecord } from '@warmpod/domain';
import { PodRepository } from '@warmpod/store';
import { ReadScope } from '../auth/read-scope';
import type { Caller } from '../auth/tokens';
import { ApiError } from '../http/api-error';
import { matches, type PodFilter } from './list-query';

/** How far back a filtered listing looks; an unfiltered one reads only what it returns. */
const FILTER_SCAN = 1_000;

/** Reads of one tenant's pods. Another tenant's pod is "not found", never "forbidden". */
@Injectable()
export class TenantPods {
  constructor(
    private readonly pods: PodRepository,
    private readonly scope: ReadScope,
  ) {}

  async get(tenant: string, id: string): Promise<PodRecord> {
    const pod = POD_ID.test(id) ? await this.pods.get(id) : undefined;
    if (!pod || pod.tenant !== tenant) throw ApiError.notFound('pod');
    return pod;
  }

  /** A pod the caller may read (an operator: any tenant's). */
  async read(caller: Caller, id: string): Promise<PodRecord> {
    const pod = POD_ID.test(id) ? await this.pods.get(id) : undefined;
    if (!pod || !this.scope.mayRead(caller, pod.tenant)) throw ApiError.notFound('pod');
    return pod;
  }

  /** The pods the caller may read, newest first: its tenant's, or for an operator every tenant's. */
  async list(caller: Caller, filter: PodFilter): Promise<PodRecord[]> {
    const filtered = filter.phase !== undefined || filter.labels.length > 0;
    const perTenant = await Promise.all(
      this.scope.tenants(caller).map((tenant) => this.pods.listByTenant(tenant, filtered ? FILTER_SCAN : filter.limit)),
    );
    return perTenant
      .flat()
      .filter((p) => matches(p, filter))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .slice(0, filter.limit);
  }
}
