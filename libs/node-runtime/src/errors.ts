import { createLogger, type Logger } from '@warmpod/observability';

/** Every adapter failure says what was being done and, when there is one, for which pod. */
export class NodeRuntimeError extends Error {
  override readonly name = 'NodeRuntimeError';
  constructor(
    readonly operation: string,
    detail: string,
    readonly podId?: string,
    options?: ErrorOptions,
  ) {
    super(`${operation}${podId ? ` for pod ${podId}` : ''} failed: ${detail}`, options);
  }
}

/** Loggers are optional for the small adapters; without one they stay quiet. */
export function quietLogger(): Logger {
  return createLogger({ service: 'node-runtime', level: 'silent' });
}
