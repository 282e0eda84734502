import { applyDecorators, Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { JobBus } from '@warmpod/jobs';
import { NodeRepository } from '@warmpod/store';
import { BearerAuthGuard } from '../auth/bearer-auth.guard';
import { OperatorOnly } from '../auth/operator.guard';
import type { Caller as CallerOfToken } from '../auth/tokens';
import { ApiError } from '../http/api-error';
import { Caller, RequestId } from '../http/request-params';
import { ERROR_REF, NODE_REF } from '../openapi';
import type { NodeResponse } from './node-response';
import { NodeViews } from './node-views';

const errors = (...statuses: number[]) => applyDecorators(...statuses.map((status) => ApiResponse({ status, schema: ERROR_REF })));

@ApiTags('nodes')
@ApiBearerAuth()
@UseGuards(BearerAuthGuard)
@Controller('v1/nodes')
export class NodesController {
  constructor(
    private readonly nodes: NodeRepository,
    private readonly views: NodeViews,
    private readonly jobs: JobBus,
  ) {}

  @Get()
  @ApiOperation({
    summary: 'Nodes with capacity, usage, health and cached digests',
    description: "A tenant sees its own running pods and checkpoints on each node and only counts (`hidden`) of other tenants'.",
  })
  @ApiResponse({ status: 200, schema: { type: 'object', properties: { items: { type: 'array', items: NODE_REF } } } })
  @errors(401)
  async list(@Caller() caller: CallerOfToken): Promise<{ items: NodeResponse[] }> {
    return { items: await this.views.list(caller) };
  }

  @Post(':id/cordon')
  @HttpCode(200)
  @OperatorOnly()
  @ApiOperation({ summary: 'Keep new pods off a node (operators only)' })
  @ApiResponse({ status: 200, schema: NODE_REF })
  @errors(401, 404)
  cordon(@Caller() caller: CallerOfToken, @Param('id') id: string): Promise<NodeResponse> {
    return this.setCordoned(caller, id, true);
  }

  @Post(':id/uncordon')
  @HttpCode(200)
  @OperatorOnly()
  @ApiOperation({ summary: 'Let new pods onto a node again (operators only)' })
  @ApiResponse({ status: 200, schema: NODE_REF })
  @errors(401, 404)
  uncordon(@Caller() caller: CallerOfToken, @Param('id') id: string): Promise<NodeResponse> {
    return this.setCordoned(caller, id, false);
  }

  @Post(':id/drain')
  @HttpCode(202)
  @OperatorOnly()
  @ApiOperation({
    summary: 'Take a node out of the cluster (operators only)',
    description:
      'The node takes no new pods at once (`draining`); its agent then stops its pods, places again those whose restart policy ' +
      'allows it (OnFailure, Always) on other nodes, ends the others Stopped with the reason, and deregisters the node, which ' +
      'then no longer appears (it is never shown as lost). Asking again while it drains changes nothing.',
  })
  @ApiResponse({ status: 202, schema: NODE_REF })
  @errors(401, 404)
  async drain(@Caller() caller: CallerOfToken, @RequestId() requestId: string, @Param('id') id: string): Promise<NodeResponse> {
    if (!(await this.nodes.startDrain(id))) throw ApiError.notFound('node');
    // Durable: an agent restarting now finds the job when it is back (and a new agent also sees the drain mark).
    await this.jobs.toNode(id, { name: 'drain-node', data: { requestId } });
    const node = await this.views.get(id, caller);
    if (!node) throw ApiError.notFound('node');
    return node;
  }

  private async setCordoned(caller: CallerOfToken, id: string, cordoned: boolean): Promise<NodeResponse> {
    if (!(await this.nodes.setCordoned(id, cordoned))) throw ApiError.notFound('node');
    const node = await this.views.get(id, caller);
    if (!node) throw ApiError.notFound('node');
    return node;
  }
}
