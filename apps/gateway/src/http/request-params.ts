import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Caller as CallerOfToken } from '../auth/tokens';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the bearer auth guard: who is asking (tenant, role, token id). */
    caller?: CallerOfToken;
  }
}

function callerOf(ctx: ExecutionContext): CallerOfToken {
  const caller = ctx.switchToHttp().getRequest<FastifyRequest>().caller;
  if (!caller) throw new Error('a caller parameter used on a route without the bearer auth guard');
  return caller;
}

/** The tenant of the token (the guard guarantees one on guarded routes); operators act as their own tenant. */
export const Tenant = createParamDecorator((_data: unknown, ctx: ExecutionContext): string => callerOf(ctx).tenant);

/** The whole caller, for endpoints whose answer depends on the role. */
export const Caller = createParamDecorator((_data: unknown, ctx: ExecutionContext): CallerOfToken => callerOf(ctx));

/** The id of the current request, carried into job data. */
export const RequestId = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): string => ctx.switchToHttp().getRequest<FastifyRequest>().id,
);
