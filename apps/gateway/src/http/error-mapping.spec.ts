import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BadRequestException, HttpException, NotFoundException } from '@nestjs/common';
import { RegistryError } from '@warmpod/registry';
import { registryFailure } from '../pods/pin-resolver';
import { ApiError } from './api-error';
import { toErrorResponse } from './error-mapping';

function fastifyError(code: string, statusCode: number, message: string): Error {
  return Object.assign(new Error(message), { name: 'FastifyError', code, statusCode });
}

describe('toErrorResponse', () => {
  test('keeps an ApiError as it is', () => {
    const r = toErrorResponse(new ApiError(400, 'invalid_request', 'bad', [{ path: 'image', message: 'is required' }]));
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { error: { code: 'invalid_request', message: 'bad', details: [{ path: 'image', message: 'is required' }] } });
    assert.equal(r.internal, false);
  });

  test("maps Fastify's content-type errors by code", () => {
    const cases: Array<[string, number, number, string]> = [
      ['FST_ERR_CTP_INVALID_JSON_BODY', 400, 400, 'invalid_json'],
      ['FST_ERR_CTP_EMPTY_JSON_BODY', 400, 400, 'invalid_json'],
      ['FST_ERR_CTP_BODY_TOO_LARGE', 413, 413, 'payload_too_large'],
      ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 415, 'unsupported_media_type'],
      ['FST_ERR_SOMETHING_NEW', 400, 400, 'bad_request'],
    ];
    for (const [code, statusCode, status, apiCode] of cases) {
      const r = toErrorResponse(fastifyError(code, statusCode, 'x'));
      assert.equal(r.status, status, code);
      assert.equal(r.body.error.code, apiCode, code);
    }
  });

  test('maps the bare HttpExceptions Nest makes of Fastify errors by status', () => {
    assert.equal(toErrorResponse(new HttpException('Request body is too large', 413)).body.error.code, 'payload_too_large');
    assert.equal(toErrorResponse(new HttpException('Unsupported Media Type', 415)).body.error.code, 'unsupported_media_type');
    const notFound = toErrorResponse(new NotFoundException('Cannot GET /nope'));
    assert.deepEqual([notFound.status, notFound.body.error.code, notFound.body.error.message], [404, 'not_found', 'Cannot GET /nope']);
    assert.equal(toErrorResponse(new BadRequestException()).body.error.code, 'bad_request');
  });

  test('hides the details of anything unplanned', () => {
    const r = toErrorResponse(new TypeError('cannot read properties of undefined (secret internals)'));
    assert.equal(r.status, 500);
    assert.deepEqual(r.body.error, { code: 'internal_error', message: 'internal error', details: [] });
    assert.equal(r.internal, true);
  });
});

describe('registryFailure', () => {
  const cases: Array<[RegistryError['kind'], number, string]> = [
    ['not-found', 422, 'image_not_found'],
    ['denied', 422, 'image_access_denied'],
    ['unavailable', 503, 'registry_unavailable'],
    ['invalid', 502, 'registry_invalid_response'],
  ];
  for (const [kind, status, code] of cases) {
    test(`${kind} -> ${status} ${code}`, () => {
      const error = registryFailure(new RegistryError('why', kind), 'app:1');
      assert.equal(error.status, status);
      assert.equal(error.code, code);
    });
  }
  test('points the client at the image field when the image is the problem', () => {
    assert.equal(registryFailure(new RegistryError('x', 'not-found'), 'app:1').details[0]?.path, 'image');
  });
});
