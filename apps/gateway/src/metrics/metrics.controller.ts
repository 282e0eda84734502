import { Controller, Get, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { METRICS_OFF } from '@warmpod/observability';
import { ApiError } from '../http/api-error';
import { GatewayMetrics } from './gateway-metrics';

/** `GET /metrics`: Prometheus text format, public like the probes (no tenant data in it); 404 when metrics are off. */
@ApiExcludeController()
@Controller()
export class MetricsController {
  constructor(private readonly gateway: GatewayMetrics) {}

  @Get('metrics')
  async metrics(@Res() reply: FastifyReply): Promise<void> {
    if (!this.gateway.metrics.enabled) throw new ApiError(404, 'not_found', METRICS_OFF.trim());
    const { contentType, body } = await this.gateway.metrics.exposition();
    await reply.header('content-type', contentType).send(body);
  }
}
