import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ImageIndex } from './manifest';
import { MEDIA } from './media-types';
import { declaredMediaType, formatPlatform, isImageIndex, ociArchitecture, parsePlatform, platformManifest } from './platform';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const entry = (c: string, architecture: string, variant?: string) => ({
  mediaType: MEDIA.ociManifest,
  digest: digest(c),
  size: 1,
  platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
});
const index: ImageIndex = {
  schemaVersion: 2,
  manifests: [entry('a', 'amd64'), entry('b', 'arm', 'v6'), entry('c', 'arm', 'v7'), entry('d', 'arm64')],
};

describe('platformManifest', () => {
  test('picks the manifest of the asked os and architecture, never amd64 by default', () => {
    assert.equal(platformManifest(index, { os: 'linux', architecture: 'arm64' })?.digest, digest('d'));
    assert.equal(platformManifest(index, { os: 'linux', architecture: 'amd64' })?.digest, digest('a'));
    assert.equal(platformManifest(index, { os: 'linux', architecture: 's390x' }), undefined);
    assert.equal(platformManifest(index, { os: 'windows', architecture: 'amd64' }), undefined);
  });

  test('a variant narrows further; without one the first of the architecture wins', () => {
    assert.equal(platformManifest(index, { os: 'linux', architecture: 'arm', variant: 'v7' })?.digest, digest('c'));
    assert.equal(platformManifest(index, { os: 'linux', architecture: 'arm' })?.digest, digest('b'));
  });
});

describe('platform names', () => {
  test('os/arch[/variant] round-trips; anything else is refused', () => {
    assert.deepEqual(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.equal(formatPlatform(parsePlatform('linux/amd64')!), 'linux/amd64');
    for (const bad of ['', 'linux', 'linux/', 'Linux/AMD64', 'linux/amd64/v1/x']) assert.equal(parsePlatform(bad), undefined, bad);
  });

  test("Node's architecture names in OCI spelling", () => {
    assert.equal(ociArchitecture('x64'), 'amd64');
    assert.equal(ociArchitecture('ppc64'), 'ppc64le');
    assert.equal(ociArchitecture('mips'), 'mips');
  });
});

describe('isImageIndex', () => {
  test("the body's mediaType wins over the header; a manifests array settles untyped bodies", () => {
    assert.equal(isImageIndex({ mediaType: MEDIA.ociIndex }, MEDIA.ociManifest), true);
    assert.equal(isImageIndex({}, MEDIA.dockerList), true);
    assert.equal(isImageIndex({ manifests: [] }, ''), true);
    assert.equal(isImageIndex({ mediaType: MEDIA.ociManifest, layers: [] }, MEDIA.ociManifest), false);
    assert.equal(declaredMediaType({ mediaType: MEDIA.dockerManifest }, MEDIA.ociManifest), MEDIA.dockerManifest);
    assert.equal(declaredMediaType('not an object', MEDIA.ociManifest), MEDIA.ociManifest);
  });
});
