import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UnrecoverableError } from 'bullmq';
import { WarmpodJobError } from '@warmpod/client';
import { ApiError } from '../http/api-error';
import { jobFailure, refusal } from './job-failure';

describe('jobFailure', () => {
  test("a refusal the producer caused fails at once, in the REST door's error shape", () => {
    const failure = jobFailure(ApiError.invalidRequest('the pod request is not valid', [{ path: 'image', message: 'required' }]));
    assert.ok(failure instanceof UnrecoverableError);
    const parsed = WarmpodJobError.fromFailedReason(failure.message);
    assert.deepEqual(
      [parsed.code, parsed.message, parsed.details],
      ['invalid_request', 'the pod request is not valid', [{ path: 'image', message: 'required' }]],
    );
    assert.ok(refusal(409, 'pod_failed', 'pod x failed') instanceof UnrecoverableError);
  });

  test('an outage is retried: the registry or the queue away, or anything unplanned', () => {
    for (const error of [
      new ApiError(503, 'registry_unavailable', 'down'),
      new ApiError(502, 'registry_invalid_response', 'x'),
      new Error('ECONNRESET'),
    ]) {
      const failure = jobFailure(error);
      assert.ok(!(failure instanceof UnrecoverableError), error.message);
      assert.ok(
        ['registry_unavailable', 'registry_invalid_response', 'internal_error'].includes(
          WarmpodJobError.fromFailedReason(failure.message).code,
        ),
      );
    }
  });
});
