import pino, { type Logger, type LoggerOptions } from 'pino';
import { currentContext } from './request-context';

export type { Logger } from 'pino';

export interface LoggerSettings {
  service: string;
  level: string;
  /** Extra base fields, e.g. the node id of an agent. */
  base?: Record<string, string>;
}

/**
 * One structured logger per process: the service name on every line, the
 * request id of the current request or job bound automatically, secrets
 * redacted.
 */
export function createLogger(settings: LoggerSettings, destination?: pino.DestinationStream): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    base: { service: settings.service, ...settings.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['authorization', 'headers.authorization', 'req.headers.authorization', '*.token', 'token', 'password'],
      censor: '[redacted]',
    },
    mixin() {
      const ctx = currentContext();
      return ctx ? { requestId: ctx.requestId, ...ctx.bindings } : {};
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
