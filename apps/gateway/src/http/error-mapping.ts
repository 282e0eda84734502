import { HttpException } from '@nestjs/common';
import { ApiError, type ErrorBody } from './api-error';

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  /** True for failures the client did not cause: logged with their stack. */
  internal: boolean;
}

/** Fastify's own errors, by code (they reach us from content-type parsing). */
const FASTIFY_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'bad_request' },
};

/**
 * Codes for errors that carry only a status. Nest turns Fastify's errors into
 * bare `HttpException`s before filters see them, so the status is all that
 * is left of e.g. FST_ERR_CTP_BODY_TOO_LARGE.
 */
const STATUS_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  503: 'service_unavailable',
};

const body = (code: string, message: string, details: ErrorBody['error']['details'] = []): ErrorBody => ({
  error: { code, message, details },
});

function httpExceptionMessage(exception: HttpException): string {
  const response = exception.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (typeof message === 'string') return message;
  if (Array.isArray(message)) return message.map(String).join('; ');
  return exception.message;
}

function fastifyError(error: unknown): { code: string; statusCode: number; message: string } | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, statusCode } = error as Error & { code?: unknown; statusCode?: unknown };
  if (typeof code !== 'string' || !code.startsWith('FST_') || typeof statusCode !== 'number') return undefined;
  return { code, statusCode, message: error.message };
}

/** Maps anything thrown while serving a request to the API's error shape. */
export function toErrorResponse(error: unknown): ErrorResponse {
  if (error instanceof ApiError) {
    return {
      status: error.status,
      body: body(error.code, error.message, error.details),
      internal: error.status >= 500 && error.status !== 503,
    };
  }
  const fst = fastifyError(error);
  if (fst) {
    const known = FASTIFY_CODES[fst.code];
    const status = known?.status ?? fst.statusCode;
    const code = known?.code ?? STATUS_CODES[status] ?? (status >= 500 ? 'internal_error' : 'bad_request');
    return { status, body: body(code, status >= 500 ? 'internal error' : fst.message), internal: status >= 500 };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    if (status >= 500 && status !== 503) return { status: 500, body: body('internal_error', 'internal error'), internal: true };
    const code = STATUS_CODES[status] ?? (status >= 500 ? 'internal_error' : 'bad_request');
    return { status, body: body(code, httpExceptionMessage(error)), internal: false };
  }
  // Anything else is a bug or an unplanned outage: say little, log everything.
  return { status: 500, body: body('internal_error', 'internal error'), internal: true };
}
