import type { LoggerService } from '@nestjs/common';
import type { Logger } from '@warmpod/observability';

const text = (message: unknown): string => (typeof message === 'string' ? message : JSON.stringify(message));

/** Routes Nest's own messages into the gateway's pino logger; its route table goes to debug. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.logger.debug({ nest: context }, text(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ nest: context, trace }, text(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ nest: context }, text(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ nest: context }, text(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ nest: context }, text(message));
  }
}
