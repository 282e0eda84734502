import { applyDecorators, Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiHeader, ApiOperation, ApiProduces, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { CheckpointRecord, PodRecord } from '@warmpod/domain';
import { BearerAuthGuard } from '../auth/bearer-auth.guard';
import { PodCheckpointer } from '../checkpoints/pod-checkpointer';
import type { Caller as CallerOfToken } from '../auth/tokens';
import { Caller, RequestId, Tenant } from '../http/request-params';
import { CHECKPOINT_REF, ERROR_REF, POD_RECORD_REF, POD_REQUEST_REF } from '../openapi';
import { idempotencyKeyFrom } from './idempotency';
import { podFilterFrom } from './list-query';
import { PodAdmission } from './pod-admission';
import { PodLogs } from './pod-logs';
import { PodStopper } from './pod-stopper';
import { POD_WAIT_DEFAULT_SECONDS, POD_WAIT_MAX_SECONDS, PodWait } from './pod-wait';
import { TenantPods } from './tenant-pods';

const errors = (...statuses: number[]) => applyDecorators(...statuses.map((status) => ApiResponse({ status, schema: ERROR_REF })));

@ApiTags('pods')
@ApiBearerAuth()
@UseGuards(BearerAuthGuard)
@Controller('v1/pods')
export class PodsController {
  constructor(
    private readonly admission: PodAdmission,
    private readonly tenantPods: TenantPods,
    private readonly stopper: PodStopper,
    private readonly logs: PodLogs,
    private readonly checkpointer: PodCheckpointer,
    private readonly waiter: PodWait,
  ) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({ summary: 'Admit a pod: its image is pinned to a digest here, once' })
  @ApiBody({ schema: POD_REQUEST_REF })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'same key + same body -> same pod; other body -> 409' })
  @ApiResponse({ status: 202, schema: POD_RECORD_REF, description: 'admitted (or replayed: header Idempotent-Replay: true)' })
  @errors(400, 401, 403, 409, 413, 415, 422, 503)
  async create(
    @Tenant() tenant: string,
    @RequestId() requestId: string,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyHeader: string | string[] | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<PodRecord> {
    const idempotencyKey = idempotencyKeyFrom(idempotencyHeader);
    const admission = await this.admission.admit({ tenant, body, requestId, ...(idempotencyKey ? { idempotencyKey } : {}) });
    if (admission.replay) void reply.header('idempotent-replay', 'true');
    return admission.pod;
  }

  @Get()
  @ApiOperation({ summary: "List the tenant's pods, newest first (an operator's: every tenant's)" })
  @ApiQuery({ name: 'phase', required: false })
  @ApiQuery({ name: 'label', required: false, description: 'key=value; repeat to require several' })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } })
  @ApiResponse({ status: 200, schema: { type: 'object', properties: { items: { type: 'array', items: POD_RECORD_REF } } } })
  @errors(400, 401)
  async list(@Caller() caller: CallerOfToken, @Query() query: unknown): Promise<{ items: PodRecord[] }> {
    return { items: await this.tenantPods.list(caller, podFilterFrom(query)) };
  }

  @Get(':id')
  @ApiOperation({
    summary: "One pod (an operator may read any tenant's); with wait=Ready, once it is ready (a bounded long poll)",
    description:
      'With `wait=Ready` the answer is held until the pod is ready (Running: its readiness held and its ports are exposed), ' +
      `has ended (it never will be), or \`timeoutSeconds\` (default ${POD_WAIT_DEFAULT_SECONDS}, at most ${POD_WAIT_MAX_SECONDS}) passed; ` +
      'the record as it is then comes back with 200 and the header `Warmpod-Wait: ready | ended | timeout`.',
  })
  @ApiQuery({ name: 'wait', required: false, schema: { type: 'string', enum: ['Ready'] } })
  @ApiQuery({
    name: 'timeoutSeconds',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: POD_WAIT_MAX_SECONDS, default: POD_WAIT_DEFAULT_SECONDS },
  })
  @ApiResponse({
    status: 200,
    schema: POD_RECORD_REF,
    headers: { 'Warmpod-Wait': { description: 'with wait=Ready: ready, ended or timeout', schema: { type: 'string' } } },
  })
  @errors(400, 401, 404)
  async get(
    @Caller() caller: CallerOfToken,
    @Param('id') id: string,
    @Query() query: unknown,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<PodRecord> {
    // A client that hangs up ends its wait.
    const gone = new AbortController();
    reply.raw.once('close', () => gone.abort());
    const { pod, outcome } = await this.waiter.get(caller, id, query, gone.signal);
    if (outcome) void reply.header('warmpod-wait', outcome);
    return pod;
  }

  @Delete(':id')
  @HttpCode(202)
  @ApiOperation({ summary: 'Stop a pod (Pending pods stop at once; running ones through their node)' })
  @ApiResponse({ status: 202, schema: POD_RECORD_REF })
  @errors(401, 404, 409)
  stop(@Tenant() tenant: string, @RequestId() requestId: string, @Param('id') id: string): Promise<PodRecord> {
    return this.stopper.stop(tenant, id, requestId);
  }

  @Post(':id/checkpoint')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Checkpoint a Running pod now, leaving it running',
    description:
      "Records a pending checkpoint and asks the pod's node to take it; follow it with GET /v1/checkpoints/{id}. " +
      'Refused (and nothing recorded) when the pod is not Running (409 pod_not_running), uses more than one GPU ' +
      "(422 checkpoint_unsupported), its node has no working CRIU (409 node_cannot_checkpoint, with the node's reason), " +
      'a checkpoint of it is still being taken (409 checkpoint_in_progress) or the tenant is at a checkpoint quota (403 quota_exceeded).',
  })
  @ApiResponse({ status: 202, schema: CHECKPOINT_REF, description: 'the checkpoint record, state pending' })
  @errors(401, 403, 404, 409, 422, 503)
  checkpoint(@Tenant() tenant: string, @RequestId() requestId: string, @Param('id') id: string): Promise<CheckpointRecord> {
    return this.checkpointer.checkpoint(tenant, id, requestId);
  }

  @Get(':id/logs')
  @ApiOperation({ summary: "The pod's last log lines, from its node" })
  @ApiProduces('text/plain')
  @ApiQuery({ name: 'tail', required: false, schema: { type: 'integer', minimum: 1, maximum: 10000, default: 200 } })
  @ApiResponse({ status: 200, description: 'log text; empty while the pod is not on a node' })
  @errors(400, 401, 404, 503)
  async podLogs(
    @Caller() caller: CallerOfToken,
    @Param('id') id: string,
    @Query() query: unknown,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    const text = await this.logs.tail(caller, id, query);
    void reply.type('text/plain; charset=utf-8');
    return text;
  }
}
