import { UnrecoverableError } from 'bullmq';
import type { FieldProblem } from '@warmpod/domain';
import { ApiError } from '../http/api-error';
import { toErrorResponse } from '../http/error-mapping';

/**
 * How a queue-door job fails: its `failedReason` is the REST error body as
 * JSON, so both doors refuse with the same code, message and field paths.
 * A refusal the producer caused (4xx) fails at once (UnrecoverableError,
 * whatever its attempts); an outage (5xx: registry or Redis away) is thrown
 * plainly, so BullMQ retries it with the job's backoff.
 */
export function jobFailure(error: unknown): Error {
  const response = toErrorResponse(error);
  const reason = JSON.stringify(response.body);
  return response.status < 500 ? new UnrecoverableError(reason) : new Error(reason);
}

/** A permanent refusal in the API's error shape. */
export function refusal(status: number, code: string, message: string, details: FieldProblem[] = []): UnrecoverableError {
  return new UnrecoverableError(JSON.stringify(toErrorResponse(new ApiError(status, code, message, details)).body));
}
