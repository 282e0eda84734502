import type { Provider } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { PoolRepository } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { REDIS } from '../providers';
import { PoolAdmin } from './pool-admin';
import { PoolClaims } from './pool-claims';

/** The pool store and services, on the gateway's Redis connection. */
export function poolProviders(config: GatewayConfig): Provider[] {
  return [
    {
      provide: PoolRepository,
      useFactory: (redis: Redis) => new PoolRepository(redis, config.prefix, { events: config.observability.events }),
      inject: [REDIS],
    },
    PoolAdmin,
    PoolClaims,
  ];
}
