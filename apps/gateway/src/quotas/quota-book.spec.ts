import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_QUOTA } from '@warmpod/domain';
import { loadGatewayConfig } from '../config';
import { limitsOf, parseQuotaBook, QuotaFileError } from './quota-book';

test('a named tenant takes its limits, then the file defaults, then the built-in ones', () => {
  const book = parseQuotaBook(JSON.stringify({ defaults: { pods: 7 }, tenants: { acme: { gpu: 0 } } }), 'test');
  assert.deepEqual(limitsOf(book, 'acme'), { ...DEFAULT_QUOTA, pods: 7, gpu: 0 });
  assert.deepEqual(limitsOf(book, 'other'), { ...DEFAULT_QUOTA, pods: 7 });
});

test('a bad quotas file is refused with where and what', () => {
  const bad = (json: string): string => {
    try {
      parseQuotaBook(json, 'WARMPOD_QUOTAS');
    } catch (error) {
      assert.ok(error instanceof QuotaFileError);
      return error.message;
    }
    assert.fail('accepted');
  };
  assert.match(bad('{'), /WARMPOD_QUOTAS is not valid JSON/);
  assert.match(bad('{"tenants": {"acme": {"pods": -1}}}'), /WARMPOD_QUOTAS: tenants\.acme\.pods: at least 0/);
  assert.match(bad('{"tenants": {"acme": {"cpu": 2}}}'), /tenants\.acme\.cpu: unknown field/);
  assert.match(bad('{"tenants": {"Acme!": {}}}'), /a tenant name/);
  assert.match(bad('{"limits": {}}'), /limits: unknown field/);
});

test('the gateway config: no quotas file gives every tenant the defaults; an unreadable one stops the boot', () => {
  const env = { WARMPOD_TOKENS: JSON.stringify({ 'token-0001': { tenant: 'acme', role: 'tenant' } }) };
  assert.deepEqual(limitsOf(loadGatewayConfig(env).quotas, 'acme'), DEFAULT_QUOTA);
  const unreadable = (): string => {
    throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
  };
  assert.throws(
    () => loadGatewayConfig({ ...env, WARMPOD_QUOTAS_FILE: 'quotas.json' }, unreadable),
    /WARMPOD_QUOTAS_FILE cannot be read \(ENOENT\)/,
  );
});
