import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../http/api-error';
import { bearerToken, TokenTable } from './tokens';

/** `Authorization: Bearer <token>` -> tenant, or 401. */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  constructor(private readonly tokens: TokenTable) {}

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const challenge = (): void => void http.getResponse<FastifyReply>().header('www-authenticate', 'Bearer');
    const token = bearerToken(request.headers.authorization);
    if (!token) {
      challenge();
      throw ApiError.unauthorized('an Authorization: Bearer <token> header is required');
    }
    const tenant = this.tokens.tenantFor(token);
    if (!tenant) {
      challenge();
      throw ApiError.unauthorized('the bearer token is not valid');
    }
    request.tenant = tenant;
    return true;
  }
}
