import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bearerToken, parseTokens, TokenError, TokenTable } from './tokens';

describe('parseTokens', () => {
  test('reads a token -> tenant object', () => {
    const tokens = parseTokens('{"alpha-token-1":"alpha","beta-token-22":"beta"}', 'WARMPOD_TOKENS');
    assert.deepEqual(
      [...tokens],
      [
        ['alpha-token-1', 'alpha'],
        ['beta-token-22', 'beta'],
      ],
    );
  });

  for (const [why, json] of [
    ['not JSON', '{alpha'],
    ['an array', '["alpha-token-1"]'],
    ['empty', '{}'],
    ['a short token', '{"short":"alpha"}'],
    ['a token with a space', '{"has a space!":"alpha"}'],
    ['a non-string tenant', '{"alpha-token-1":7}'],
    ['an upper-case tenant', '{"alpha-token-1":"Alpha"}'],
  ] as const) {
    test(`refuses ${why}`, () => assert.throws(() => parseTokens(json, 'WARMPOD_TOKENS'), TokenError));
  }

  test('never puts a token into an error message', () => {
    const secret = 'super-secret-token';
    assert.throws(
      () => parseTokens(JSON.stringify({ [secret]: 'NOT OK' }), 'WARMPOD_TOKENS'),
      (error: Error) => !error.message.includes(secret) && /token #1/.test(error.message),
    );
  });
});

describe('TokenTable', () => {
  const table = new TokenTable(new Map([['alpha-token-1', 'alpha']]));
  test('maps a known token to its tenant', () => assert.equal(table.tenantFor('alpha-token-1'), 'alpha'));
  test('knows nothing of other tokens', () => {
    assert.equal(table.tenantFor('alpha-token-2'), undefined);
    assert.equal(table.tenantFor(''), undefined);
  });
});

describe('bearerToken', () => {
  test('takes the token of a Bearer header, scheme in any case', () => {
    assert.equal(bearerToken('Bearer abc.def-123'), 'abc.def-123');
    assert.equal(bearerToken('bearer abc'), 'abc');
  });
  test('gives nothing for missing or malformed headers', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic YWxhZGRpbjpvcGVu', 'Bearer a b', 'Bearerabc', ['Bearer abc']]) {
      assert.equal(bearerToken(header), undefined, JSON.stringify(header));
    }
  });
});
