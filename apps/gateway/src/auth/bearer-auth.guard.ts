import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../http/api-error';
import { RateLimiter } from './rate-limiter';
import { bearerToken, TokenTable } from './tokens';

/**
 * `Authorization: Bearer <token>` -> the caller, or 401; then the token's
 * rate limit, or 429 with Retry-After. Messages never echo the token.
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  constructor(
    private readonly tokens: TokenTable,
    private readonly limiter: RateLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const challenge = (): void => void reply.header('www-authenticate', 'Bearer');
    const token = bearerToken(request.headers.authorization);
    if (!token) {
      challenge();
      throw ApiError.unauthorized('an Authorization: Bearer <token> header is required');
    }
    const caller = this.tokens.callerFor(token);
    if (!caller) {
      challenge();
      throw ApiError.unauthorized('the bearer token is not valid');
    }
    request.caller = caller;
    const decision = await this.limiter.take(caller.tokenId);
    if (!decision.allowed) {
      const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
      void reply.header('retry-after', String(seconds));
      throw ApiError.rateLimited(seconds);
    }
    return true;
  }
}
