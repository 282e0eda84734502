import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeIssues, parseImageReference } from '@warmpod/domain';
import { pinReference, pinRequestSchema } from './pin-request';

const REGISTRY = '127.0.0.1:5000';
const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('pinReference', () => {
  test('names the registry and the tag, defaulting both', () => {
    const ref = (s: string) => pinReference(parseImageReference(s, REGISTRY));
    assert.equal(ref('team/app'), `${REGISTRY}/team/app:latest`);
    assert.equal(ref('team/app:latest'), `${REGISTRY}/team/app:latest`);
    assert.equal(ref(`${REGISTRY}/team/app:v1`), `${REGISTRY}/team/app:v1`);
    assert.equal(ref('registry.example:443/team/app:v1'), 'registry.example:443/team/app:v1');
  });

  test('a reference with a digest is known by its digest, tag or not', () => {
    assert.equal(pinReference(parseImageReference(`team/app@${DIGEST}`, REGISTRY)), `${REGISTRY}/team/app@${DIGEST}`);
    assert.equal(pinReference(parseImageReference(`team/app:v1@${DIGEST}`, REGISTRY)), `${REGISTRY}/team/app@${DIGEST}`);
  });
});

describe('pinRequestSchema', () => {
  test('takes an image and an optional node selector, nothing else', () => {
    assert.equal(pinRequestSchema.safeParse({ image: 'team/app' }).success, true);
    assert.equal(pinRequestSchema.safeParse({ image: 'team/app', nodeSelector: { zone: 'a' } }).success, true);
    const bad = pinRequestSchema.safeParse({ image: '', nodeSelector: { zone: 'a b' }, pool: 'x' });
    assert.deepEqual(
      describeIssues(bad.error!)
        .map((p) => p.path)
        .sort(),
      ['image', 'nodeSelector.zone', 'pool'],
    );
  });
});
