import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isValidNodeId, newId, POD_ID } from './ids';

describe('newId', () => {
  test('a pod id matches POD_ID', () => {
    for (let i = 0; i < 200; i++) assert.match(newId('pod'), POD_ID);
  });

  test('the time part is base32, most significant first', () => {
    assert.equal(newId('pod', 0).slice(0, 14), 'pod-0000000000');
    assert.equal(newId('pod', 31).slice(0, 14), 'pod-000000000z');
    assert.equal(newId('pod', 32).slice(0, 14), 'pod-0000000010');
    assert.equal(newId('pod', 1_700_000_000_000).slice(4, 14), '01hf7yat00');
  });

  test('ids sort by time, even across a digit/letter boundary', () => {
    const times = [0, 9, 10, 31, 32, 1_000, 1_700_000_000_000, 1_700_000_000_001, 1_700_000_001_000, 4_102_444_800_000];
    const ids = times.map((t) => newId('pod', t));
    assert.deepEqual([...ids].sort(), ids);
  });

  test('ids made in the same millisecond differ', () => {
    const now = Date.now();
    const ids = new Set(Array.from({ length: 1000 }, () => newId('pod', now)));
    assert.equal(ids.size, 1000);
  });

  test('the random part uses only the id alphabet', () => {
    for (let i = 0; i < 200; i++) assert.match(newId('pod').slice(14), /^[0-9abcdefghjkmnpqrstvwxyz]{10}$/);
  });
});

describe('node ids', () => {
  test('a DNS subdomain of at most 63: Kubernetes Node names such as ip-10-0-0-1.ec2.internal', () => {
    const good = ['n1', 'node-a', 'a'.repeat(63), 'node.a', 'ip-10-0-0-1.ec2.internal', '1.2.3', `${'a'.repeat(30)}.${'b'.repeat(32)}`];
    for (const id of good) assert.equal(isValidNodeId(id), true, id);
    const bad = [
      '',
      'Node',
      'node_a',
      '-a',
      'a-',
      'a'.repeat(64),
      `${'a'.repeat(31)}.${'b'.repeat(32)}`,
      '.a',
      'a.',
      'a..b',
      'a.-b',
      'a-.b',
      'a:b',
      'a/b',
      'Ip-10.ec2.internal',
    ];
    for (const id of bad) assert.equal(isValidNodeId(id), false, id);
  });
});
