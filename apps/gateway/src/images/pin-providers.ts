import type { Provider } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { PinRepository, PrepullStatus } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { REDIS } from '../providers';
import { ImagePins } from './image-pins';

/** The pin store, the prepull read model and the pins service, on the gateway's Redis connection. */
export function pinProviders(config: GatewayConfig): Provider[] {
  return [
    {
      provide: PinRepository,
      useFactory: (redis: Redis) => new PinRepository(redis, config.prefix, { events: config.observability.events }),
      inject: [REDIS],
    },
    {
      provide: PrepullStatus,
      useFactory: (redis: Redis) => new PrepullStatus(redis, config.prefix, config.nodeReadyWindowMs),
      inject: [REDIS],
    },
    ImagePins,
  ];
}
