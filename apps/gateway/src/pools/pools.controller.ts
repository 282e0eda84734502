import { applyDecorators, Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags, type SchemaObject } from '@nestjs/swagger';
import { z } from 'zod';
import { BearerAuthGuard } from '../auth/bearer-auth.guard';
import type { Caller as CallerOfToken } from '../auth/tokens';
import { Caller, Tenant } from '../http/request-params';
import { ERROR_REF } from '../openapi';
import { PoolAdmin } from './pool-admin';
import { createPoolSchema, patchPoolSchema } from './pool-request';
import type { PoolResponse } from './pool-response';

const errors = (...statuses: number[]) => applyDecorators(...statuses.map((status) => ApiResponse({ status, schema: ERROR_REF })));

/** Request bodies documented from the same zod schemas that validate them. */
function bodySchema(schema: z.ZodType): SchemaObject {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }) as Record<string, unknown>;
  delete json['$schema'];
  return json as SchemaObject;
}

const POOL: SchemaObject = {
  type: 'object',
  description:
    'pinned digest, desired, ready (Running: readiness held; what claims get) and starting counts, ' +
    'each warm pod with node, digest and phase, rotation progress, counters',
};

@ApiTags('pools')
@ApiBearerAuth()
@UseGuards(BearerAuthGuard)
@Controller('v1/pools')
export class PoolsController {
  constructor(private readonly admin: PoolAdmin) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({
    summary: 'Define a warm pool: its image is pinned here; the scheduler keeps `size` pods Running on nodes holding the digest',
  })
  @ApiBody({ schema: bodySchema(createPoolSchema) })
  @ApiResponse({ status: 201, schema: POOL })
  @errors(400, 401, 403, 409, 422, 503)
  create(@Tenant() tenant: string, @Body() body: unknown): Promise<PoolResponse> {
    return this.admin.create(tenant, body);
  }

  @Get()
  @ApiOperation({ summary: "The tenant's pools (an operator's: every tenant's; draining ones until their pods have stopped)" })
  @ApiResponse({ status: 200, schema: { type: 'object', properties: { items: { type: 'array', items: POOL } } } })
  @errors(401)
  async list(@Caller() caller: CallerOfToken): Promise<{ items: PoolResponse[] }> {
    return { items: await this.admin.list(caller) };
  }

  @Get(':name')
  @ApiOperation({ summary: 'One pool of the tenant (an operator: of any tenant; 409 when several tenants have that name)' })
  @ApiResponse({ status: 200, schema: POOL })
  @errors(401, 404, 409)
  get(@Caller() caller: CallerOfToken, @Param('name') name: string): Promise<PoolResponse> {
    return this.admin.get(caller, name);
  }

  @Patch(':name')
  @HttpCode(200)
  @ApiOperation({ summary: 'Resize, or re-pin (re-resolve the image): a new digest rotates the pool once' })
  @ApiBody({ schema: bodySchema(patchPoolSchema) })
  @ApiResponse({ status: 200, schema: POOL })
  @errors(400, 401, 403, 404, 422, 503)
  update(@Tenant() tenant: string, @Param('name') name: string, @Body() body: unknown): Promise<PoolResponse> {
    return this.admin.update(tenant, name, body);
  }

  @Delete(':name')
  @HttpCode(202)
  @ApiOperation({ summary: 'Drain: stops the warm pods, then the pool is gone (the name is free at once)' })
  @ApiResponse({ status: 202, schema: POOL })
  @errors(401, 404)
  drain(@Tenant() tenant: string, @Param('name') name: string): Promise<PoolResponse> {
    return this.admin.drain(tenant, name);
  }
}
