import type { FastifyInstance } from 'fastify';
import { ApiError } from './api-error';

/**
 * Accepts JSON bodies only (anything else is 415) and turns a body that does
 * not parse into our own `invalid_json` error. Nest would otherwise rewrap
 * Fastify's parse error into a bare 400 without its code.
 */
export function installJsonBody(fastify: FastifyInstance, bodyLimit: number): void {
  const parse = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (request, body, done) => {
    parse(request, typeof body === 'string' ? body : body.toString('utf8'), (error, value) => {
      if (error) done(new ApiError(400, 'invalid_json', 'the request body is not valid JSON'), undefined);
      else done(null, value);
    });
  });
}
