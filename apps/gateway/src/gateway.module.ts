import { Module, type DynamicModule } from '@nestjs/common';
import type { Logger } from '@warmpod/observability';
import { BearerAuthGuard } from './auth/bearer-auth.guard';
import { OperatorGuard } from './auth/operator.guard';
import { ReadScope } from './auth/read-scope';
import { RateLimiter } from './auth/rate-limiter';
import { checkpointProviders } from './checkpoints/checkpoint-providers';
import { CheckpointsController } from './checkpoints/checkpoints.controller';
import type { GatewayConfig } from './config';
import { EventsController } from './events/events.controller';
import { EventStreams } from './events/event-streams';
import { PodChanges } from './events/pod-changes';
import { SkippedEntries } from './events/skipped-entries';
import { HealthController } from './health/health.controller';
import { RedisPolicy } from './health/redis-policy';
import { infrastructureProviders, type InfrastructureOverrides } from './infrastructure';
import { ImagesController } from './images/images.controller';
import { intakeProviders } from './intake/intake-providers';
import { pinProviders } from './images/pin-providers';
import { NodeViews } from './nodes/node-views';
import { NodesController } from './nodes/nodes.controller';
import { ImageLayersRecorder } from './pods/image-layers';
import { PinResolver } from './pods/pin-resolver';
import { PodAdmission } from './pods/pod-admission';
import { PodLogs } from './pods/pod-logs';
import { PodStopper } from './pods/pod-stopper';
import { PodsController } from './pods/pods.controller';
import { TenantPods } from './pods/tenant-pods';
import { PodWait } from './pods/pod-wait';
import { poolProviders } from './pools/pool-providers';
import { GatewayMetrics } from './metrics/gateway-metrics';
import { MetricsController } from './metrics/metrics.controller';
import { PoolsController } from './pools/pools.controller';
import { QuotaController } from './quotas/quota.controller';
import { TenantLimits } from './quotas/tenant-limits';

@Module({})
export class GatewayModule {
  static forRoot(config: GatewayConfig, logger: Logger, overrides: InfrastructureOverrides = {}): DynamicModule {
    return {
      module: GatewayModule,
      controllers: [
        HealthController,
        MetricsController,
        PodsController,
        NodesController,
        ImagesController,
        PoolsController,
        CheckpointsController,
        EventsController,
        QuotaController,
      ],
      providers: [
        ...infrastructureProviders(config, logger, overrides),
        RedisPolicy,
        RateLimiter,
        GatewayMetrics,
        BearerAuthGuard,
        OperatorGuard,
        ReadScope,
        NodeViews,
        PinResolver,
        ImageLayersRecorder,
        PodAdmission,
        TenantPods,
        PodWait,
        PodStopper,
        PodLogs,
        EventStreams,
        PodChanges,
        SkippedEntries,
        TenantLimits,
        ...pinProviders(config),
        ...poolProviders(config),
        ...checkpointProviders(config),
        ...intakeProviders(),
      ],
    };
  }
}
