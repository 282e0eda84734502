import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Redis } from 'ioredis';
import { messageOf, within } from '@warmpod/observability';
import { ApiError } from '../http/api-error';
import { REDIS } from '../providers';
import { RedisPolicy } from './redis-policy';

const PING_TIMEOUT_MS = 1_000;

/** Public probes: alive while the process serves; ready while Redis answers and will not evict keys. */
@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly policy: RedisPolicy,
  ) {}

  @Get('healthz')
  @ApiOperation({ summary: 'Liveness' })
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  @ApiOperation({ summary: 'Readiness: 503 with the reason while Redis does not answer or may evict keys' })
  async readyz(): Promise<{ status: 'ready' }> {
    try {
      await within(this.redis.ping(), PING_TIMEOUT_MS, 'ping');
    } catch (error) {
      throw new ApiError(503, 'not_ready', `redis: ${messageOf(error)}`);
    }
    const problem = this.policy.problem;
    if (problem) throw new ApiError(503, 'not_ready', `redis: ${problem}`);
    return { status: 'ready' };
  }
}
