import type { FieldProblem, QuotaRefusal } from '@warmpod/domain';

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

  /** A request that would take its tenant past a quota: which, its limit, the use before it. */
  static overQuota(r: QuotaRefusal): ApiError {
    return new ApiError(
      403,
      'quota_exceeded',
      `the ${r.quota} quota of this tenant would be exceeded: limit ${r.limit}, in use ${r.used}, this request ${r.requested}`,
      [{ path: `quota.${r.quota}`, message: `limit ${r.limit}, in use ${r.used}, requested ${r.requested}` }],
    );
  }

  static rateLimited(retryAfterSeconds: number): ApiError {
    return new ApiError(429, 'rate_limited', `too many requests with this token; retry after ${retryAfterSeconds} s`);
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details: FieldProblem[] };
}
