import { applyDecorators, Controller, Get, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { NodeRepository } from '@warmpod/store';
import { BearerAuthGuard } from '../auth/bearer-auth.guard';
import type { GatewayConfig } from '../config';
import { ApiError } from '../http/api-error';
import { ERROR_REF, NODE_REF } from '../openapi';
import { CONFIG } from '../providers';
import { toNodeResponse, type NodeResponse } from './node-response';

const errors = (...statuses: number[]) => applyDecorators(...statuses.map((status) => ApiResponse({ status, schema: ERROR_REF })));

@ApiTags('nodes')
@ApiBearerAuth()
@UseGuards(BearerAuthGuard)
@Controller('v1/nodes')
export class NodesController {
  constructor(
    private readonly nodes: NodeRepository,
    @Inject(CONFIG) private readonly config: GatewayConfig,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Nodes with capacity, usage, health and cached digests' })
  @ApiResponse({ status: 200, schema: { type: 'object', properties: { items: { type: 'array', items: NODE_REF } } } })
  @errors(401)
  async list(): Promise<{ items: NodeResponse[] }> {
    const now = Date.now();
    return { items: (await this.nodes.list()).map((n) => toNodeResponse(n, this.config.nodeReadyWindowMs, now)) };
  }

  @Post(':id/cordon')
  @HttpCode(200)
  @ApiOperation({ summary: 'Keep new pods off a node' })
  @ApiResponse({ status: 200, schema: NODE_REF })
  @errors(401, 404)
  cordon(@Param('id') id: string): Promise<NodeResponse> {
    return this.setCordoned(id, true);
  }

  @Post(':id/uncordon')
  @HttpCode(200)
  @ApiOperation({ summary: 'Let new pods onto a node again' })
  @ApiResponse({ status: 200, schema: NODE_REF })
  @errors(401, 404)
  uncordon(@Param('id') id: string): Promise<NodeResponse> {
    return this.setCordoned(id, false);
  }

  private async setCordoned(id: string, cordoned: boolean): Promise<NodeResponse> {
    if (!(await this.nodes.setCordoned(id, cordoned))) throw ApiError.notFound('node');
    const node = await this.nodes.get(id);
    if (!node) throw ApiError.notFound('node');
    return toNodeResponse(node, this.config.nodeReadyWindowMs);
  }
}
