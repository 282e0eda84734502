import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeNodeFields, decodeNodeHash, registrationFields } from './node-record';

const registration = {
  id: 'n1',
  labels: { zone: 'a' },
  capacity: { cpu: 2.5, memoryMiB: 4096, gpu: 1 },
  agentUrl: 'http://127.0.0.1:7000',
  capabilities: { runtime: 'runc', criu: false },
};

describe('node record decoder', () => {
  test('reads back what registration stores; facts need no agent URL', () => {
    const hash = registrationFields(registration, '2026-01-01T00:00:00.000Z');
    const decoded = decodeNodeHash(hash);
    assert.deepEqual(
      decoded && { labels: decoded.labels, cpu: decoded.capCpuMilli, capabilities: decoded.capabilities, gpus: decoded.gpus },
      { labels: { zone: 'a' }, cpu: 2500, capabilities: { runtime: 'runc', criu: false }, gpus: [] },
    );
    const facts = Object.fromEntries(Object.entries(hash).filter(([field]) => field !== 'agentUrl'));
    assert.equal(decodeNodeHash(facts), undefined);
    assert.equal(decodeNodeFields({ ...facts, lostAt: null, cordoned: 'true' })?.cordoned, true);
  });

  test('a node without its registration, or with labels that are not a string map, is not a node', () => {
    const hash = registrationFields(registration, '2026-01-01T00:00:00.000Z');
    assert.equal(decodeNodeFields({ heartbeatAt: '2026-01-01T00:00:00.000Z' }), undefined);
    assert.equal(decodeNodeFields({ ...hash, labels: '{"zone":1}' }), undefined);
    assert.equal(decodeNodeFields({ ...hash, capabilities: 'not json' }), undefined);
  });

  test('optional reports that cannot be read are left out rather than hiding the node', () => {
    const hash = { ...registrationFields(registration, 'now'), runningPods: '[1]', checkpoints: '{' };
    const decoded = decodeNodeHash(hash);
    assert.equal(decoded?.runningPods, undefined);
    assert.equal(decoded?.checkpoints, undefined);
  });
});
