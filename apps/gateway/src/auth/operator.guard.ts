import { applyDecorators, Injectable, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { ApiExtension, ApiResponse } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../http/api-error';
import { ERROR_REF } from '../openapi';

/** The OpenAPI extension that marks an operation for operators only (the isolation test reads it). */
export const REQUIRED_ROLE_EXTENSION = 'x-warmpod-role';

/** Runs after the bearer guard (method guards follow class guards): a tenant is 403. */
@Injectable()
export class OperatorGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const caller = context.switchToHttp().getRequest<FastifyRequest>().caller;
    if (!caller) throw new Error('OperatorGuard used on a route without the bearer auth guard');
    if (caller.role !== 'operator') throw ApiError.forbidden('this is a cluster operation: it needs an operator token');
    return true;
  }
}

/** A cluster operation: only operator tokens may call it; documented as such, with its 403. */
export const OperatorOnly = () =>
  applyDecorators(
    UseGuards(OperatorGuard),
    ApiExtension(REQUIRED_ROLE_EXTENSION, 'operator'),
    ApiResponse({ status: 403, schema: ERROR_REF, description: 'the token is not an operator token' }),
  );
