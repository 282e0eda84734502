import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { BearerAuthGuard } from '../auth/bearer-auth.guard';
import { TENANT, type Caller as CallerOfToken } from '../auth/tokens';
import { ApiError } from '../http/api-error';
import { Caller } from '../http/request-params';
import { ERROR_REF, QUOTA_REF } from '../openapi';
import { TenantLimits, type QuotaReport } from './tenant-limits';

@ApiTags('quota')
@ApiBearerAuth()
@UseGuards(BearerAuthGuard)
@Controller('v1/quota')
export class QuotaController {
  constructor(private readonly limits: TenantLimits) {}

  @Get()
  @ApiOperation({
    summary: "The caller's tenant: each quota's limit and current use",
    description:
      'Pods count from admission until they end; pins while active; pool pods are the sizes of active pools; ' +
      'checkpoints while neither deleted nor failed. A request that would pass a limit is refused with 403 quota_exceeded.',
  })
  @ApiQuery({ name: 'tenant', required: false, description: "operators only: another tenant's quota" })
  @ApiResponse({ status: 200, schema: QUOTA_REF })
  @ApiResponse({ status: 401, schema: ERROR_REF })
  @ApiResponse({ status: 404, schema: ERROR_REF, description: 'a tenant token naming another tenant' })
  async get(@Caller() caller: CallerOfToken, @Query('tenant') tenant: unknown): Promise<QuotaReport> {
    if (tenant === undefined || tenant === caller.tenant) return this.limits.report(caller.tenant);
    if (caller.role !== 'operator' || typeof tenant !== 'string' || !TENANT.test(tenant)) {
      throw ApiError.notFound('tenant');
    }
    return this.limits.report(tenant);
  }
}
