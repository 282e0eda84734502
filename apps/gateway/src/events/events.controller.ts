import { Controller, Get, Param, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BearerAuthGuard } from '../auth/bearer-auth.guard';
import type { Caller as CallerOfToken } from '../auth/tokens';
import { Caller } from '../http/request-params';
import { ERROR_REF } from '../openapi';
import { TenantPods } from '../pods/tenant-pods';
import { EventStreams } from './event-streams';

const SSE_DESCRIPTION =
  'Server-Sent Events (text/event-stream). Each event has `id:` (resume with the Last-Event-ID header), `event:` ' +
  '(pod, pin, pool or checkpoint; `gap` when events after Last-Event-ID were trimmed) and `data:` JSON ' +
  '`{kind, resource, tenant, ...}` (a pod: phase, previous, at, node, startMode, message, exitCode, error). ' +
  'A `: heartbeat` comment comes when nothing happened for a while. The backlog is bounded (about 200 events per pod, ' +
  "1000 per tenant). 400 invalid_last_event_id for an id that is not one, another stream's or never written; " +
  '429 too_many_streams past the open streams per tenant.';

const lastEventId = ApiHeader({ name: 'Last-Event-ID', required: false, description: 'resume after this event id' });
const sse = { status: 200, description: 'the event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } };

@ApiTags('events')
@ApiBearerAuth()
@UseGuards(BearerAuthGuard)
@Controller('v1')
export class EventsController {
  constructor(
    private readonly streams: EventStreams,
    private readonly tenantPods: TenantPods,
  ) {}

  @Get('events')
  @ApiOperation({
    summary: "Follow the tenant's pods, pins, pools and checkpoints (operators: every tenant's)",
    description: `${SSE_DESCRIPTION} Without Last-Event-ID it starts with what happens next.`,
  })
  @ApiProduces('text/event-stream')
  @lastEventId
  @ApiResponse(sse)
  @ApiResponse({ status: 400, schema: ERROR_REF })
  @ApiResponse({ status: 401, schema: ERROR_REF })
  @ApiResponse({ status: 429, schema: ERROR_REF })
  all(@Caller() caller: CallerOfToken, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const scope = caller.role === 'operator' ? ({ kind: 'all' } as const) : ({ kind: 'tenant', tenant: caller.tenant } as const);
    return this.streams.serve(caller.tenant, scope, request, reply);
  }

  @Get('pods/:id/events')
  @ApiOperation({
    summary: 'Follow one pod: its phase changes and its checkpoints',
    description: `${SSE_DESCRIPTION} Without Last-Event-ID it starts with the pod's first kept event.`,
  })
  @ApiProduces('text/event-stream')
  @lastEventId
  @ApiResponse(sse)
  @ApiResponse({ status: 400, schema: ERROR_REF })
  @ApiResponse({ status: 401, schema: ERROR_REF })
  @ApiResponse({ status: 404, schema: ERROR_REF })
  @ApiResponse({ status: 429, schema: ERROR_REF })
  async pod(
    @Caller() caller: CallerOfToken,
    @Param('id') id: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    // An operator reads any tenant's pod, as on GET /v1/pods/{id}.
    const pod = await this.tenantPods.read(caller, id);
    return this.streams.serve(caller.tenant, { kind: 'pod', tenant: pod.tenant, podId: pod.id }, request, reply);
  }
}
