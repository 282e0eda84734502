import type { Provider } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { CheckpointRepository } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { REDIS } from '../providers';
import { CheckpointJobs } from './checkpoint-jobs';
import { PodCheckpointer } from './pod-checkpointer';
import { TenantCheckpoints } from './tenant-checkpoints';

/** The checkpoint index and the services over it, on the gateway's Redis connection. */
export function checkpointProviders(config: GatewayConfig): Provider[] {
  return [
    {
      provide: CheckpointRepository,
      useFactory: (redis: Redis) => new CheckpointRepository(redis, config.prefix, { events: config.observability.events }),
      inject: [REDIS],
    },
    CheckpointJobs,
    PodCheckpointer,
    TenantCheckpoints,
  ];
}
