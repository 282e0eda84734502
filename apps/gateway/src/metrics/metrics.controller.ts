import { Controller, Get, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { GatewayMetrics } from './gateway-metrics';

/** `GET /metrics`: Prometheus text format, public like the probes (no tenant data in it). */
@ApiExcludeController()
@Controller()
export class MetricsController {
  constructor(private readonly gateway: GatewayMetrics) {}

  @Get('metrics')
  async metrics(@Res() reply: FastifyReply): Promise<void> {
    const { contentType, body } = await this.gateway.metrics.exposition();
    await reply.header('content-type', contentType).send(body);
  }
}
