import type { FieldProblem } from '@warmpod/domain';

/**
 * An error the API answers with on purpose: its status, a stable
 * machine-readable code, and field-level details a client can act on.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: FieldProblem[] = [],
  ) {
    super(message);
  }

  static notFound(what: string): ApiError {
    return new ApiError(404, 'not_found', `${what} not found`);
  }

  static invalidRequest(message: string, details: FieldProblem[]): ApiError {
    return new ApiError(400, 'invalid_request', message, details);
  }

  static unauthorized(message: string): ApiError {
    return new ApiError(401, 'unauthorized', message);
  }

  static forbidden(message: string): ApiError {
    return new ApiError(403, 'forbidden', message);
  }

  static rateLimited(retryAfterSeconds: number): ApiError {
    return new ApiError(429, 'rate_limited', `too many requests with this token; retry after ${retryAfterSeconds} s`);
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details: FieldProblem[] };
}
