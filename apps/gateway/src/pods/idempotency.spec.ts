import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError } from '../http/api-error';
import { bodyHash, canonicalJson, idempotencyKeyFrom } from './idempotency';

describe('canonicalJson', () => {
  test('sorts keys at every level and keeps array order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, 1], c: 'x' } }), '{"a":{"c":"x","d":[3,1]},"b":1}');
  });
  test('drops undefined fields the way JSON does', () => {
    assert.equal(canonicalJson({ a: undefined, b: null }), '{"b":null}');
    assert.equal(canonicalJson([undefined]), '[null]');
  });
  test('escapes keys and strings', () => {
    assert.equal(canonicalJson({ 'a"b': 'line\nbreak' }), '{"a\\"b":"line\\nbreak"}');
  });
});

describe('bodyHash', () => {
  test('is the same for the same body in another key order', () => {
    const a = bodyHash({ image: 'app:1', env: { B: '2', A: '1' }, ports: [80, 81] });
    const b = bodyHash({ ports: [80, 81], env: { A: '1', B: '2' }, image: 'app:1' });
    assert.equal(a, b);
    assert.match(a, /^[a-f0-9]{64}$/);
  });
  test('differs when any value differs, including array order', () => {
    const base = bodyHash({ image: 'app:1', ports: [80, 81] });
    assert.notEqual(base, bodyHash({ image: 'app:2', ports: [80, 81] }));
    assert.notEqual(base, bodyHash({ image: 'app:1', ports: [81, 80] }));
  });
});

describe('idempotencyKeyFrom', () => {
  test('passes a good key and an absent one', () => {
    assert.equal(idempotencyKeyFrom('order-42:retry.1_A'), 'order-42:retry.1_A');
    assert.equal(idempotencyKeyFrom(undefined), undefined);
    assert.equal(idempotencyKeyFrom('k'.repeat(128)), 'k'.repeat(128));
  });
  test('refuses empty, long, odd-character and repeated keys', () => {
    for (const header of ['', 'k'.repeat(129), 'has space', 'slash/key', ['a', 'b']]) {
      assert.throws(
        () => idempotencyKeyFrom(header),
        (error: unknown) => error instanceof ApiError && error.status === 400 && error.details[0]?.path === 'headers.idempotency-key',
      );
    }
  });
});
