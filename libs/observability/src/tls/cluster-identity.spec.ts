import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expectServer, identityName, parseIdentity, peerIdentity } from './cluster-identity';

test('a certificate CN names a node, a known service or an operator; anything else names no one', () => {
  assert.deepEqual(parseIdentity('node:node-1'), { kind: 'node', name: 'node-1' });
  assert.deepEqual(parseIdentity('service:gateway'), { kind: 'service', name: 'gateway' });
  assert.deepEqual(parseIdentity('operator:alice'), { kind: 'operator', name: 'alice' });
  for (const cn of ['node-1', 'service:redis', 'node:', 'node:Node_1', 'admin:x', 'node:a b'])
    assert.equal(parseIdentity(cn), undefined, cn);
  assert.equal(identityName({ kind: 'node', name: 'node-1' }), 'node:node-1');
  assert.equal(peerIdentity(undefined), undefined);
});

test('expectServer accepts only the expected identity, whatever the host', () => {
  const check = expectServer({ kind: 'service', name: 'scheduler' });
  const cert = (CN: string) => ({ subject: { CN } }) as unknown as Parameters<typeof check>[1];
  assert.equal(check('10.0.0.7', cert('service:scheduler')), undefined);
  assert.match(String(check('scheduler', cert('node:node-1'))), /names node:node-1, not service:scheduler/);
});
