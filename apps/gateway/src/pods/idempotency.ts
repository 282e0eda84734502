import { createHash } from 'node:crypto';
import { ApiError } from '../http/api-error';

/**
 * JSON with object keys sorted at every level, so two bodies that mean the
 * same thing hash the same whatever order their fields came in.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const fields = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`);
    return `{${fields.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What an idempotency key is compared on: sha256 of the canonical body. */
export function bodyHash(parsedBody: unknown): string {
  return createHash('sha256').update(canonicalJson(parsedBody)).digest('hex');
}

const KEY = /^[A-Za-z0-9._:-]{1,128}$/;

/** The `Idempotency-Key` header, checked; undefined when the client sent none. */
export function idempotencyKeyFrom(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header === 'string' && KEY.test(header)) return header;
  throw ApiError.invalidRequest('the Idempotency-Key header is not valid', [
    { path: 'headers.idempotency-key', message: 'one header of 1-128 characters from [A-Za-z0-9._:-]' },
  ]);
}
