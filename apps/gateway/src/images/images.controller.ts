import { applyDecorators, Body, Controller, Delete, Get, HttpCode, Param, Post, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { BearerAuthGuard } from '../auth/bearer-auth.guard';
import type { Caller as CallerOfToken } from '../auth/tokens';
import { Caller, Tenant } from '../http/request-params';
import { ERROR_REF, PIN_REF, PIN_REQUEST_REF } from '../openapi';
import { ImagePins } from './image-pins';
import type { PinResponse } from './pin-response';

const errors = (...statuses: number[]) => applyDecorators(...statuses.map((status) => ApiResponse({ status, schema: ERROR_REF })));

@ApiTags('images')
@ApiBearerAuth()
@UseGuards(BearerAuthGuard)
@Controller('v1/images')
export class ImagesController {
  constructor(private readonly pins: ImagePins) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Pin an image for warming: resolved to its digest here, once; re-pinning a moved tag supersedes the older pin' })
  @ApiBody({ schema: PIN_REQUEST_REF })
  @ApiResponse({ status: 201, schema: PIN_REF, description: 'pinned (superseding the active pin of the same reference at another digest)' })
  @ApiResponse({ status: 200, schema: PIN_REF, description: 'the same reference at the same digest was already pinned: that pin' })
  @errors(400, 401, 403, 413, 415, 422, 503)
  async create(@Tenant() tenant: string, @Body() body: unknown, @Res({ passthrough: true }) reply: FastifyReply): Promise<PinResponse> {
    const outcome = await this.pins.pin(tenant, body);
    if (!outcome.created) void reply.status(200);
    return outcome.pin;
  }

  @Get()
  @ApiOperation({
    summary:
      "The tenant's pins (an operator's: every tenant's), newest first, with each target node's state: queued, pulling, ready or failed",
  })
  @ApiResponse({ status: 200, schema: { type: 'object', properties: { items: { type: 'array', items: PIN_REF } } } })
  @errors(401)
  async list(@Caller() caller: CallerOfToken): Promise<{ items: PinResponse[] }> {
    return { items: await this.pins.list(caller) };
  }

  @Get(':id')
  @ApiOperation({ summary: "One pin with its per-node state (an operator may read any tenant's)" })
  @ApiResponse({ status: 200, schema: PIN_REF })
  @errors(401, 404)
  get(@Caller() caller: CallerOfToken, @Param('id') id: string): Promise<PinResponse> {
    return this.pins.get(caller, id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Unpin: the prepuller stops warming it and its digest becomes evictable where no pod uses it' })
  @ApiResponse({ status: 204, description: 'unpinned' })
  @errors(401, 404)
  async remove(@Tenant() tenant: string, @Param('id') id: string): Promise<void> {
    await this.pins.unpin(tenant, id);
  }
}
