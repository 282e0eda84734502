import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the bearer auth guard: whose request this is. */
    tenant?: string;
  }
}

/** The authenticated tenant (the guard guarantees one on guarded routes). */
export const Tenant = createParamDecorator((_data: unknown, ctx: ExecutionContext): string => {
  const tenant = ctx.switchToHttp().getRequest<FastifyRequest>().tenant;
  if (!tenant) throw new Error('Tenant used on a route without the bearer auth guard');
  return tenant;
});

/** The id of the current request, carried into job data. */
export const RequestId = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): string => ctx.switchToHttp().getRequest<FastifyRequest>().id,
);
