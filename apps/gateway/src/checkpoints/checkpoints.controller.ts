import { applyDecorators, Controller, Delete, Get, HttpCode, Param, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CHECKPOINT_STATES, type CheckpointRecord } from '@warmpod/domain';
import { BearerAuthGuard } from '../auth/bearer-auth.guard';
import type { Caller as CallerOfToken } from '../auth/tokens';
import { Caller, RequestId, Tenant } from '../http/request-params';
import { CHECKPOINT_REF, ERROR_REF } from '../openapi';
import { checkpointFilterFrom } from './list-query';
import { TenantCheckpoints } from './tenant-checkpoints';

const errors = (...statuses: number[]) => applyDecorators(...statuses.map((status) => ApiResponse({ status, schema: ERROR_REF })));

/** Checkpoint records of the tenant; the checkpoint files themselves are never served. */
@ApiTags('checkpoints')
@ApiBearerAuth()
@UseGuards(BearerAuthGuard)
@Controller('v1/checkpoints')
export class CheckpointsController {
  constructor(private readonly checkpoints: TenantCheckpoints) {}

  @Get()
  @ApiOperation({
    summary:
      "List the tenant's checkpoint records (an operator's: every tenant's), newest first (deleted ones included: their state says so)",
  })
  @ApiQuery({ name: 'pod', required: false, description: 'only checkpoints taken of this pod' })
  @ApiQuery({ name: 'node', required: false, description: 'only checkpoints stored on this node' })
  @ApiQuery({ name: 'state', required: false, schema: { type: 'string', enum: [...CHECKPOINT_STATES] } })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } })
  @ApiResponse({ status: 200, schema: { type: 'object', properties: { items: { type: 'array', items: CHECKPOINT_REF } } } })
  @errors(400, 401)
  async list(@Caller() caller: CallerOfToken, @Query() query: unknown): Promise<{ items: CheckpointRecord[] }> {
    return { items: await this.checkpoints.list(caller, checkpointFilterFrom(query)) };
  }

  @Get(':id')
  @ApiOperation({ summary: "One checkpoint record (an operator may read any tenant's)" })
  @ApiResponse({ status: 200, schema: CHECKPOINT_REF })
  @errors(401, 404)
  get(@Caller() caller: CallerOfToken, @Param('id') id: string): Promise<CheckpointRecord> {
    return this.checkpoints.read(caller, id);
  }

  @Delete(':id')
  @HttpCode(202)
  @ApiOperation({
    summary:
      'Delete a checkpoint: no restore uses it from now on; its node removes the files. Deleting it again is a no-op that re-sends the removal.',
  })
  @ApiResponse({ status: 202, schema: CHECKPOINT_REF, description: 'the record, state deleted' })
  @errors(401, 404, 503)
  delete(@Tenant() tenant: string, @RequestId() requestId: string, @Param('id') id: string): Promise<CheckpointRecord> {
    return this.checkpoints.delete(tenant, id, requestId);
  }
}
