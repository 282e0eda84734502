import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requestIdFrom, runInContext, type Logger } from '@warmpod/observability';

export const REQUEST_ID_HEADER = 'x-request-id';

/** For Fastify's `genReqId`: keep a sane incoming X-Request-Id, else make one. */
export function requestIdOf(raw: { headers: Record<string, string | string[] | undefined> }): string {
  return requestIdFrom(raw.headers[REQUEST_ID_HEADER]);
}

/** The error code a request was answered with, for its access log line. */
const errorCodes = new WeakMap<object, string>();

export function noteErrorCode(request: FastifyRequest, code: string): void {
  errorCodes.set(request, code);
}

/**
 * Binds the request id for everything a request does, echoes it to the
 * client, and writes one access log line per request.
 */
export function installRequestContext(fastify: FastifyInstance, logger: Logger): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    runInContext({ requestId: request.id }, done);
  });
  // Body parsing runs in the socket's async context and loses the one bound
  // above, so it is bound again before the handler runs.
  fastify.addHook('preHandler', (request, _reply, done) => {
    runInContext({ requestId: request.id }, done);
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const code = errorCodes.get(request);
    logger.info(
      {
        requestId: request.id,
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        ...(code ? { error: code } : {}),
      },
      'request',
    );
    done();
  });
}
