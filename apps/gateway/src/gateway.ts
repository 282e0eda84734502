import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { DestinationStream } from 'pino';
import { createLogger, type Logger } from '@warmpod/observability';
import type { GatewayConfig } from './config';
import { GatewayModule } from './gateway.module';
import { installClusterPage } from './http/cluster-page';
import { ApiErrorFilter } from './http/error.filter';
import { installJsonBody } from './http/json-body';
import { NestPinoLogger } from './http/nest-logger';
import { installRequestContext, requestIdOf } from './http/request-context';
import type { InfrastructureOverrides } from './infrastructure';
import { setupOpenApi } from './openapi';

/**
 * The page's files (apps/gateway/ui), served as they are: no build step. Resolved from
 * here, a top-level file of dist/, so the image bundle (bin/ beside ui/) finds them too.
 */
const CLUSTER_PAGE_ROOT = resolve(__dirname, '..', 'ui');

export interface GatewayOverrides extends InfrastructureOverrides {
  /** Where log lines go (tests capture them); stdout by default. */
  logDestination?: DestinationStream;
}

export interface RunningGateway {
  app: NestFastifyApplication;
  logger: Logger;
  /** `http://host:port` it listens on (the real port when configured with 0). */
  url: string;
  /** Closes HTTP, then queues, then Redis. */
  close(): Promise<void>;
}

/** Builds and starts the gateway; `main.ts` and the integration tests both start it here. */
export async function createGateway(config: GatewayConfig, overrides: GatewayOverrides = {}): Promise<RunningGateway> {
  const logger = createLogger({ service: 'gateway', level: config.logLevel }, overrides.logDestination);
  const adapter = new FastifyAdapter({
    logger: false,
    bodyLimit: config.bodyLimitBytes,
    genReqId: requestIdOf,
  });
  const app = await NestFactory.create<NestFastifyApplication>(GatewayModule.forRoot(config, logger, overrides), adapter, {
    logger: new NestPinoLogger(logger),
    // Our own JSON-only parser replaces Nest's (see http/json-body.ts).
    bodyParser: false,
    abortOnError: false,
  });
  try {
    const fastify = app.getHttpAdapter().getInstance();
    installJsonBody(fastify, config.bodyLimitBytes);
    installRequestContext(fastify, logger);
    app.useGlobalFilters(new ApiErrorFilter(logger));
    setupOpenApi(app);
    await installClusterPage(app, CLUSTER_PAGE_ROOT);
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close();
    throw error;
  }
  const { port } = app.getHttpServer().address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  logger.info(
    {
      url: `http://${host}:${port}`,
      prefix: config.prefix,
      defaultRegistry: config.defaultRegistry,
      tenants: new Set([...config.tokens.values()].map((g) => g.tenant)).size,
      operatorTokens: [...config.tokens.values()].filter((g) => g.role === 'operator').length,
      rateLimit: config.rateLimit,
    },
    'gateway listening',
  );
  return { app, logger, url: `http://${host}:${port}`, close: () => app.close() };
}
