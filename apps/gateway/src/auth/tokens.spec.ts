import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bearerToken, hashToken, parseTokens, TokenError, TokenTable } from './tokens';

const tenant = (name: string) => ({ tenant: name, role: 'tenant' });

describe('parseTokens', () => {
  test('reads plain and hashed tokens with their tenant and role, keeping only hashes', () => {
    const json = JSON.stringify({
      'alpha-token-1': tenant('alpha'),
      [hashToken('ops-token-0001')]: { tenant: 'ops', role: 'operator' },
    });
    const tokens = parseTokens(json, 'WARMPOD_TOKENS');
    assert.deepEqual(
      [...tokens],
      [
        [hashToken('alpha-token-1').slice('sha256:'.length), { tenant: 'alpha', role: 'tenant' }],
        [hashToken('ops-token-0001').slice('sha256:'.length), { tenant: 'ops', role: 'operator' }],
      ],
    );
    assert.equal(JSON.stringify([...tokens]).includes('alpha-token-1'), false);
  });

  for (const [why, json] of [
    ['not JSON', '{alpha'],
    ['an array', '["alpha-token-1"]'],
    ['empty', '{}'],
    ['a short token', '{"short":{"tenant":"alpha","role":"tenant"}}'],
    ['a token with a space', '{"has a space!":{"tenant":"alpha","role":"tenant"}}'],
    ['the old bare-tenant form', '{"alpha-token-1":"alpha"}'],
    ['a non-object grant', '{"alpha-token-1":7}'],
    ['an upper-case tenant', '{"alpha-token-1":{"tenant":"Alpha","role":"tenant"}}'],
    ['a missing role', '{"alpha-token-1":{"tenant":"alpha"}}'],
    ['an unknown role', '{"alpha-token-1":{"tenant":"alpha","role":"admin"}}'],
    ['an unknown field', '{"alpha-token-1":{"tenant":"alpha","role":"tenant","quota":1}}'],
    ['a malformed hash', '{"sha256:abc":{"tenant":"alpha","role":"tenant"}}'],
    ['an upper-case hash', `{"sha256:${'A'.repeat(64)}":{"tenant":"alpha","role":"tenant"}}`],
    ['a token given twice, plain and hashed', JSON.stringify({ 'alpha-token-1': tenant('a'), [hashToken('alpha-token-1')]: tenant('b') })],
  ] as const) {
    test(`refuses ${why}`, () => assert.throws(() => parseTokens(json, 'WARMPOD_TOKENS'), TokenError));
  }

  test('says where and what is wrong, never the token', () => {
    const secret = 'super-secret-token';
    assert.throws(
      () => parseTokens(JSON.stringify({ 'fine-token-1': tenant('a'), [secret]: { tenant: 'a', role: 'root' } }), 'WARMPOD_TOKENS'),
      (error: Error) => !error.message.includes(secret) && /WARMPOD_TOKENS: token #2: role:/.test(error.message),
    );
    assert.throws(
      () => parseTokens(JSON.stringify({ [secret]: 'alpha' }), 'WARMPOD_TOKENS_FILE'),
      (error: Error) => !error.message.includes(secret) && /token #1 maps to a bare tenant name/.test(error.message),
    );
  });
});

describe('TokenTable', () => {
  const table = new TokenTable(
    parseTokens(
      JSON.stringify({ 'alpha-token-1': tenant('alpha'), [hashToken('ops-token-0001')]: { tenant: 'ops', role: 'operator' } }),
      'WARMPOD_TOKENS',
    ),
  );
  test('maps a known token to its caller, plain or configured by hash', () => {
    assert.deepEqual({ ...table.callerFor('alpha-token-1'), tokenId: undefined }, { tenant: 'alpha', role: 'tenant', tokenId: undefined });
    assert.equal(table.callerFor('ops-token-0001')?.role, 'operator');
  });
  test('gives each token a stable id that is neither the token nor its hash', () => {
    const id = table.callerFor('alpha-token-1')?.tokenId ?? '';
    assert.match(id, /^tok-[0-9a-f]{16}$/);
    assert.equal(table.callerFor('alpha-token-1')?.tokenId, id);
    assert.notEqual(table.callerFor('ops-token-0001')?.tokenId, id);
    assert.equal(hashToken('alpha-token-1').includes(id.slice(4)), false);
  });
  test('knows nothing of other tokens, nor of a hash presented as a token', () => {
    assert.equal(table.callerFor('alpha-token-2'), undefined);
    assert.equal(table.callerFor(''), undefined);
    assert.equal(table.callerFor(hashToken('ops-token-0001')), undefined);
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
