import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '@warmpod/observability';
import { toErrorResponse } from './error-mapping';
import { noteErrorCode } from './request-context';

/** Every error leaves as `{error: {code, message, details}}`; only internal ones are logged. */
@Catch()
export class ApiErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const response = toErrorResponse(exception);
    if (response.internal) {
      this.logger.error({ requestId: request.id, err: exception }, 'request failed');
    }
    noteErrorCode(request, response.body.error.code);
    if (reply.sent) return;
    void reply.status(response.status).type('application/json; charset=utf-8').send(response.body);
  }
}
