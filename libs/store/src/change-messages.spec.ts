import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NODE_CHANGE_KINDS, nodeChangeMessage, parseNodeChange, parsePullChange } from './change-messages';

describe('nodes:changed messages', () => {
  test('every kind written by nodeChangeMessage reads back as itself', () => {
    for (const what of NODE_CHANGE_KINDS) {
      assert.deepEqual(parseNodeChange(nodeChangeMessage('node-7', what)), { nodeId: 'node-7', what });
    }
    assert.deepEqual(parseNodeChange(nodeChangeMessage('a b"c', 'cordon')), { nodeId: 'a b"c', what: 'cordon' });
  });

  test('anything else is undefined, never thrown', () => {
    for (const message of [
      '',
      'node-7',
      'node-7 inventory',
      '{',
      'null',
      '[]',
      '"node-7"',
      '{"nodeId":"node-7"}',
      '{"nodeId":"node-7","what":"heartbeat"}',
      '{"nodeId":"","what":"lost"}',
      '{"nodeId":7,"what":"lost"}',
      '{"nodeId":"node-7","what":"lost","extra":1}',
    ]) {
      assert.equal(parseNodeChange(message), undefined, message);
    }
  });
});

describe('pulls:changed messages', () => {
  test('a pull message names the node and digest', () => {
    assert.deepEqual(parsePullChange('n1 sha256:abc'), { nodeId: 'n1', digest: 'sha256:abc' });
    for (const message of ['', 'n1', 'n1 ', ' sha256:abc', 'n1 sha256:abc x']) assert.equal(parsePullChange(message), undefined, message);
  });
});
