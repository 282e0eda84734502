import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidReferenceError, manifestReference, parseImageReference, parsePinned, pin } from './image-reference';

const REGISTRY = 'registry.local:5000';
const DIGEST_A = `sha256:${'a'.repeat(64)}`;
const DIGEST_B = `sha256:${'b'.repeat(64)}`;

/** Asserts that parsing fails with an InvalidReferenceError whose message is exactly `message`. */
/** How an error message quotes an input: long inputs are cut to 80 characters. */
const quoted = (input: string) => (input.length > 80 ? `${input.slice(0, 77)}...` : input);

function rejects(input: string, message: string): void {
  assert.throws(
    () => parseImageReference(input, REGISTRY),
    (error: unknown) => {
      assert.ok(error instanceof InvalidReferenceError, `expected InvalidReferenceError, got ${String(error)}`);
      assert.equal(error.message, message);
      return true;
    },
  );
}

describe('parseImageReference', () => {
  test('a bare repository gets the default registry and the tag latest', () => {
    assert.deepEqual(parseImageReference('alpine', REGISTRY), {
      registry: REGISTRY,
      repository: 'alpine',
      tag: 'latest',
    });
  });

  test('repo:tag keeps the tag', () => {
    assert.deepEqual(parseImageReference('team/app:v1.2', REGISTRY), {
      registry: REGISTRY,
      repository: 'team/app',
      tag: 'v1.2',
    });
  });

  test('repo@digest has the digest and no tag', () => {
    const ref = parseImageReference(`app@${DIGEST_A}`, REGISTRY);
    assert.deepEqual(ref, { registry: REGISTRY, repository: 'app', digest: DIGEST_A });
    assert.equal('tag' in ref, false);
    assert.equal(manifestReference(ref), DIGEST_A);
  });

  test('repo:tag@digest keeps both, and the digest is what the registry is asked about', () => {
    const ref = parseImageReference(`app:v1@${DIGEST_A}`, REGISTRY);
    assert.deepEqual(ref, { registry: REGISTRY, repository: 'app', tag: 'v1', digest: DIGEST_A });
    assert.equal(manifestReference(ref), DIGEST_A);
  });

  test('host:port/ns/repo:tag names its registry', () => {
    assert.deepEqual(parseImageReference('127.0.0.1:5000/ns/repo:tag', REGISTRY), {
      registry: '127.0.0.1:5000',
      repository: 'ns/repo',
      tag: 'tag',
    });
  });

  test('localhost is a registry even without a dot or a port', () => {
    assert.deepEqual(parseImageReference('localhost/repo', REGISTRY), {
      registry: 'localhost',
      repository: 'repo',
      tag: 'latest',
    });
    assert.deepEqual(parseImageReference('localhost:5000/repo', REGISTRY), {
      registry: 'localhost:5000',
      repository: 'repo',
      tag: 'latest',
    });
  });

  test('a first component that is not a host stays part of the repository', () => {
    assert.deepEqual(parseImageReference('team/app', REGISTRY), {
      registry: REGISTRY,
      repository: 'team/app',
      tag: 'latest',
    });
  });

  test('docker.io single names live under library/', () => {
    assert.deepEqual(parseImageReference('alpine:3.20', 'docker.io'), {
      registry: 'docker.io',
      repository: 'library/alpine',
      tag: '3.20',
    });
    assert.deepEqual(parseImageReference('docker.io/alpine', REGISTRY), {
      registry: 'docker.io',
      repository: 'library/alpine',
      tag: 'latest',
    });
    // Only single names: a namespaced repository is left alone.
    assert.deepEqual(parseImageReference('docker.io/team/app:1', REGISTRY), {
      registry: 'docker.io',
      repository: 'team/app',
      tag: '1',
    });
  });

  test('manifestReference falls back to the tag', () => {
    assert.equal(manifestReference(parseImageReference('app:v7', REGISTRY)), 'v7');
    assert.equal(manifestReference({ registry: REGISTRY, repository: 'app' }), 'latest');
  });

  describe('rejects', () => {
    test('whitespace', () => {
      rejects('my app', 'image reference "my app" contains whitespace');
      rejects('\tapp', 'image reference "\tapp" contains whitespace');
    });

    test('an upper-case repository', () => {
      rejects('MyApp', 'image reference "MyApp" has an upper-case repository name "MyApp" (repository names must be lower case)');
      rejects('Team/app', 'image reference "Team/app" has an upper-case repository name "Team" (repository names must be lower case)');
    });

    test('a digest of the wrong length or case', () => {
      const why = 'has an invalid digest (expected sha256: and 64 lower-case hex characters)';
      rejects('app@sha256:abc', `image reference "app@sha256:abc" ${why}`);
      const short = `app@sha256:${'a'.repeat(63)}`;
      rejects(short, `image reference "${short}" ${why}`);
      const long = `app@sha256:${'a'.repeat(65)}`;
      rejects(long, `image reference "${long}" ${why}`);
      const upper = `app@sha256:${'A'.repeat(64)}`;
      rejects(upper, `image reference "${upper}" ${why}`);
      rejects('app@', `image reference "app@" ${why}`);
    });

    test('a bad tag', () => {
      rejects('app:-bad', 'image reference "app:-bad" has an invalid tag "-bad"');
      rejects('app:.bad', 'image reference "app:.bad" has an invalid tag ".bad"');
      rejects('app:', 'image reference "app:" has an invalid tag ""');
      const tooLong = 'a'.repeat(129);
      rejects(`app:${tooLong}`, `image reference "${quoted(`app:${tooLong}`)}" has an invalid tag "${tooLong}"`);
    });

    test('an empty reference', () => {
      rejects('', 'image reference "" is empty');
    });

    test('more than 512 characters', () => {
      const host = `${'h'.repeat(129)}.io`;
      const input = `${host}/${'a'.repeat(250)}:${'t'.repeat(128)}`;
      assert.equal(input.length, 512);
      assert.deepEqual(parseImageReference(input, REGISTRY), { registry: host, repository: 'a'.repeat(250), tag: 't'.repeat(128) });
      const over = 'a'.repeat(513);
      rejects(over, `image reference "${quoted(over)}" is longer than 512 characters`);
    });

    test('a repository longer than 255 characters', () => {
      const name = 'a'.repeat(300);
      rejects(name, `image reference "${quoted(name)}" has a repository name longer than 255 characters`);
    });

    test('a bad registry host', () => {
      rejects('bad_host.com/repo', 'image reference "bad_host.com/repo" has an invalid registry host "bad_host.com"');
      rejects('host:abc/repo', 'image reference "host:abc/repo" has an invalid registry host "host:abc"');
      rejects('-bad.com/repo', 'image reference "-bad.com/repo" has an invalid registry host "-bad.com"');
      rejects('host.com:99999/repo', 'image reference "host.com:99999/repo" has an invalid registry host "host.com:99999"');
    });

    test('an empty path component', () => {
      rejects('a//b', 'image reference "a//b" has an invalid repository component ""');
      rejects('registry.com/', 'image reference "registry.com/" has an invalid repository component ""');
    });
  });
});

describe('pin', () => {
  test('gives registry/repository@digest, whatever tag was asked for', () => {
    const ref = parseImageReference('team/app:latest', REGISTRY);
    assert.deepEqual(pin('team/app:latest', ref, DIGEST_A), {
      requested: 'team/app:latest',
      pinned: `${REGISTRY}/team/app@${DIGEST_A}`,
      digest: DIGEST_A,
      registry: REGISTRY,
      repository: 'team/app',
    });
  });

  test('accepts a digest reference that resolves to the same digest', () => {
    const requested = `app:v1@${DIGEST_A}`;
    assert.equal(pin(requested, parseImageReference(requested, REGISTRY), DIGEST_A).pinned, `${REGISTRY}/app@${DIGEST_A}`);
  });

  test('refuses a registry digest that does not match the one asked for', () => {
    const requested = `app@${DIGEST_A}`;
    assert.throws(
      () => pin(requested, parseImageReference(requested, REGISTRY), DIGEST_B),
      (error: unknown) =>
        error instanceof InvalidReferenceError &&
        error.message === `image reference "${requested}" names ${DIGEST_A} but the registry serves ${DIGEST_B}`,
    );
  });

  test('refuses an invalid digest', () => {
    const ref = parseImageReference('app', REGISTRY);
    for (const bad of ['latest', 'sha256:abc', `sha256:${'A'.repeat(64)}`, '']) {
      assert.throws(
        () => pin('app', ref, bad),
        (error: unknown) => error instanceof InvalidReferenceError && error.message === `registry returned an invalid digest "${bad}"`,
        bad,
      );
    }
  });
});

describe('parsePinned', () => {
  test('round-trips what pin produced', () => {
    const ref = parseImageReference('127.0.0.1:5000/ns/repo:tag', REGISTRY);
    const pinned = pin('127.0.0.1:5000/ns/repo:tag', ref, DIGEST_A).pinned;
    assert.deepEqual(parsePinned(pinned), { registry: '127.0.0.1:5000', repository: 'ns/repo', digest: DIGEST_A });
  });

  test('refuses a tag, with or without a registry port', () => {
    for (const tagged of [`host.io/repo:v1@${DIGEST_A}`, `host:5000/ns/repo:v1@${DIGEST_A}`]) {
      assert.throws(
        () => parsePinned(tagged),
        (error: unknown) => error instanceof InvalidReferenceError && error.message === `"${tagged}" carries a tag`,
        tagged,
      );
    }
  });

  test('refuses a tag-only reference, a reference without registry, and a bad digest', () => {
    const cases: Array<[string, string]> = [
      ['host.io/repo:v1', '"host.io/repo:v1" is not a pinned reference'],
      [`repo@${DIGEST_A}`, `"repo@${DIGEST_A}" is not a pinned reference`],
      ['host.io/repo@sha256:abc', '"host.io/repo@sha256:abc" has an invalid digest'],
    ];
    for (const [input, message] of cases) {
      assert.throws(
        () => parsePinned(input),
        (error: unknown) => error instanceof InvalidReferenceError && error.message === message,
        input,
      );
    }
  });
});
