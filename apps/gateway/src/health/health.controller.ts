import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Redis } from 'ioredis';
import { runChecks } from '@warmpod/observability';
import { RegistryClient } from '@warmpod/registry';
import type { GatewayConfig } from '../config';
import { ApiError } from '../http/api-error';
import { CONFIG, REDIS } from '../providers';
import { RedisPolicy } from './redis-policy';

/** The registry check's own limit, under runChecks' 1 s for every check. */
const REGISTRY_CHECK_MS = 800;

/** Public probes: alive while the process serves; ready while Redis answers and will not evict keys, and the default registry answers. */
@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly policy: RedisPolicy,
    private readonly registry: RegistryClient,
    @Inject(CONFIG) private readonly config: GatewayConfig,
  ) {}

  @Get('healthz')
  @ApiOperation({ summary: 'Liveness' })
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  @ApiOperation({
    summary: 'Readiness: 503 naming what does not answer (Redis, the default registry, each time-limited) or a Redis that may evict keys',
  })
  async readyz(): Promise<{ status: 'ready'; checks: Record<string, boolean> }> {
    // A Redis that may evict keys is not ready, whatever else answers: say why first.
    const problem = this.policy.problem;
    if (problem) throw new ApiError(503, 'not_ready', `redis: ${problem}`);
    const { ready, checks } = await runChecks({
      redis: async () => (await this.redis.ping()) === 'PONG',
      registry: () => this.registry.answers(this.config.defaultRegistry, REGISTRY_CHECK_MS),
    });
    if (!ready) {
      const failing = Object.keys(checks).filter((name) => !checks[name]);
      throw new ApiError(503, 'not_ready', `not answering: ${failing.join(', ')}`);
    }
    return { status: 'ready', checks };
  }
}
