import type { EventEmitter } from 'node:events';

/** Where `reportConnectionErrors` writes (the apps pass their pino logger). */
export interface ConnectionLogger {
  warn(fields: object, message: string): void;
  info?(fields: object, message: string): void;
}

/**
 * Gives a Redis connection (ioredis) an `error` listener: without one ioredis
 * prints every failed reconnect attempt to stderr as "[ioredis] Unhandled
 * error event" with a stack while Redis restarts. Logs one warning per
 * outage (ioredis emits an error per attempt), and a line once it is back.
 */
export function reportConnectionErrors<C extends Pick<EventEmitter, 'on'>>(connection: C, logger: ConnectionLogger, name: string): C {
  let down = false;
  connection.on('error', (error: Error) => {
    if (down) return;
    down = true;
    logger.warn({ redis: name, err: error.message }, 'redis connection lost; reconnecting');
  });
  connection.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info?.({ redis: name }, 'redis connection back');
  });
  return connection;
}
