import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dependencyClosure, debVersion, mirrorOf, parseDependsGraph, parseVersions } from './apt-root';
import { assetFolders, workspacePackagesOf } from './bundle';
import { labelsFor, NODE_TOOL_PACKAGES, parseImagesArgs, repositoryOf, SERVICES, versionAtLeast } from './image-plan';
import { integrityOf } from './node-binary';
import { criuWrapper, passwdFiles } from './root-stage';

const DEPENDS = `tzdata
 |Depends: debconf
  Depends: <debconf-2.0>
    cdebconf
    debconf
mount
  PreDepends: libblkid1
  PreDepends: libc6
libblkid1
  Depends: libc6
libc6
  Depends: libgcc-s1
libgcc-s1
  Depends: gcc-12-base
gcc-12-base
debconf
cdebconf
  Depends: libnewt0.52
`;

describe('apt dependency closure', () => {
  test('drops alternatives that only serve maintainer scripts, keeps real dependencies', () => {
    const graph = parseDependsGraph(DEPENDS);
    assert.deepEqual(graph.get('tzdata'), [['debconf', 'cdebconf', 'debconf']]);
    assert.deepEqual(dependencyClosure(graph, ['tzdata', 'mount']), ['gcc-12-base', 'libblkid1', 'libc6', 'libgcc-s1', 'mount', 'tzdata']);
  });

  test('a package asked for by name is unpacked even when only its dependents would skip it', () => {
    const graph = parseDependsGraph(DEPENDS);
    assert.deepEqual(dependencyClosure(graph, ['tzdata', 'debconf']), ['debconf', 'tzdata']);
  });

  test('an unknown root package is an error naming it', () => {
    assert.throws(() => dependencyClosure(parseDependsGraph(DEPENDS), ['critt']), /no such package: critt/);
  });

  test('versions, file names and the mirror', () => {
    assert.deepEqual([...parseVersions('Package: criu\nVersion: 4.2.1-1\n\nPackage: criu\nVersion: 3.17-1\n')], [['criu', '4.2.1-1']]);
    assert.equal(debVersion('1:2.3-4'), '1%3a2.3-4');
    assert.equal(mirrorOf('Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n'), 'http://mirror.example/debian');
    assert.equal(mirrorOf(''), 'http://deb.debian.org/debian');
  });

  test('CRIU version floor', () => {
    assert.ok(versionAtLeast('4.2.1-1', '4.2'));
    assert.ok(versionAtLeast('1:4.10-1', '4.2'));
    assert.ok(!versionAtLeast('4.1.1-2', '4.2'));
    assert.ok(!versionAtLeast('3.17.1-2+deb12u1', '4.2'));
  });
});

describe('bundle assets', () => {
  test('workspace packages come from the metafile inputs, node_modules excluded', () => {
    const inputs = [
      'apps/scheduler/dist/main.js',
      'libs/node-registry/dist/proto.js',
      'node_modules/ioredis/built/index.js',
      'libs/store/dist/lua.js',
    ];
    assert.deepEqual(workspacePackagesOf(inputs), ['apps/scheduler', 'libs/node-registry', 'libs/store']);
  });

  test('asset folders are the non-code top-level folders', () => {
    const entries = ['src', 'dist', 'proto', 'lua', 'node_modules', '.cache', 'testing'].map((name) => ({ name, isDirectory: true }));
    assert.deepEqual(assetFolders([...entries, { name: 'README.md', isDirectory: false }]), ['lua', 'proto']);
  });
});

describe('image plan', () => {
  test('arguments', () => {
    assert.deepEqual(parseImagesArgs([]), {
      registry: '127.0.0.1:5000',
      insecure: true,
      only: ['gateway', 'scheduler', 'prepuller', 'worker-agent'],
      push: true,
    });
    const a = parseImagesArgs(['--registry', 'registry.example.com/team', '--only', 'worker-agent,gateway']);
    assert.equal(a.insecure, false);
    assert.deepEqual(a.only, ['gateway', 'worker-agent']);
    assert.throws(() => parseImagesArgs(['--registry']), /--registry needs a value/);
    assert.throws(() => parseImagesArgs(['--registry', 'http://x']), /not HOST\[:PORT\]/);
    assert.throws(() => parseImagesArgs(['--only', 'gatewya']), /unknown image gatewya/);
    assert.throws(() => parseImagesArgs(['--push']), /unknown argument "--push"/);
  });

  test('labels and repositories', () => {
    const labels = labelsFor('gateway', '0.1.0', 'abc', 'https://example.com/warmpod', '2026-01-01T00:00:00.000Z');
    assert.equal(labels['org.opencontainers.image.version'], '0.1.0');
    assert.equal(labels['org.opencontainers.image.revision'], 'abc');
    assert.equal(repositoryOf('127.0.0.1:5000', 'worker-agent'), '127.0.0.1:5000/warmpod/worker-agent');
  });

  test('users, the criu wrapper and npm integrity', () => {
    assert.match(passwdFiles().passwd, /^nonroot:x:65532:65532:/m);
    const wrapper = criuWrapper('/opt/criu');
    assert.match(wrapper, /^#!\/bin\/sh\n/);
    assert.match(
      wrapper,
      /CRIU_FAULT=\$\{CRIU_FAULT-130\} exec \/opt\/criu\/usr\/lib\/x86_64-linux-gnu\/ld-linux-x86-64\.so\.2 --library-path \/opt\/criu\//,
    );
    assert.equal(
      integrityOf(Buffer.from('')),
      'sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==',
    );
  });
});

describe('node tools', () => {
  test('the agent image carries zstd: zstd-compressed layers are decompressed by the zstd program', () => {
    assert.ok(NODE_TOOL_PACKAGES.includes('zstd'));
    assert.deepEqual(
      SERVICES.filter((s) => s.nodeTools).map((s) => s.name),
      ['worker-agent'],
    );
  });

  test("the agent image carries unshare: CRIU's nftables network-lock probe runs in a netns of its own", () => {
    assert.ok(NODE_TOOL_PACKAGES.includes('util-linux'));
  });
});
