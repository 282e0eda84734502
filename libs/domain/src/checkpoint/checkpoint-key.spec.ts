import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CHECKPOINT_KEY,
  CHECKPOINT_SPEC_KEY,
  canonicalJson,
  checkpointKey,
  checkpointSpecKey,
  runtimeKey,
  runtimeKeyOfCapabilities,
  type CheckpointKeyInput,
} from './checkpoint-key';

const base: CheckpointKeyInput = {
  tenant: 'acme',
  digest: `sha256:${'a'.repeat(64)}`,
  spec: {
    command: ['/bin/server'],
    args: ['--port', '8080'],
    env: { MODE: 'prod', LEVEL: 'info' },
    ports: [8080, 9090],
    resources: { cpu: 0.5, memoryMiB: 256, gpu: 0 },
  },
  runtime: {
    arch: 'x64',
    cpuFlags: ['sse4_2', 'avx2', 'aes'],
    kernel: '6.1.0-28-amd64',
    criuVersion: '3.17.1',
    criuMode: 'breakpoints',
    runcVersion: '1.1.5+ds1',
  },
};

function variant(change: (input: CheckpointKeyInput) => void): string {
  const input = structuredClone(base);
  change(input);
  return checkpointKey(input);
}

describe('checkpointKey', () => {
  test('is a versioned sha256 and stable for equal input', () => {
    const key = checkpointKey(base);
    assert.match(key, CHECKPOINT_KEY);
    assert.equal(checkpointKey(structuredClone(base)), key);
  });

  test('env order, port order and CPU flag order (and repeats) do not change it', () => {
    const key = checkpointKey(base);
    assert.equal(
      variant((i) => (i.spec.env = { LEVEL: 'info', MODE: 'prod' })),
      key,
    );
    assert.equal(
      variant((i) => (i.spec.ports = [9090, 8080])),
      key,
    );
    assert.equal(
      variant((i) => (i.runtime.cpuFlags = ['aes', 'avx2', 'sse4_2', 'avx2'])),
      key,
    );
  });

  test('every process-shaping field, the tenant, the digest and every runtime field do', () => {
    const changes: Array<[string, (i: CheckpointKeyInput) => void]> = [
      ['tenant', (i) => (i.tenant = 'other')],
      ['digest', (i) => (i.digest = `sha256:${'b'.repeat(64)}`)],
      ['command', (i) => (i.spec.command = ['/bin/other'])],
      ['args order', (i) => (i.spec.args = ['8080', '--port'])],
      ['env value', (i) => (i.spec.env = { MODE: 'dev', LEVEL: 'info' })],
      ['env added', (i) => (i.spec.env = { ...i.spec.env, EXTRA: '' })],
      ['ports', (i) => (i.spec.ports = [8080])],
      ['cpu', (i) => (i.spec.resources.cpu = 1)],
      ['memory', (i) => (i.spec.resources.memoryMiB = 512)],
      ['gpu', (i) => (i.spec.resources.gpu = 1)],
      ['arch', (i) => (i.runtime.arch = 'arm64')],
      ['cpu flags', (i) => (i.runtime.cpuFlags = ['aes'])],
      ['kernel', (i) => (i.runtime.kernel = '6.1.0-29-amd64')],
      ['criu', (i) => (i.runtime.criuVersion = '4.0')],
      ['criu mode', (i) => (i.runtime.criuMode = 'no-breakpoints')],
      ['runc', (i) => (i.runtime.runcVersion = '1.2.0')],
      ['criu network lock', (i) => (i.runtime.criuNetworkLock = 'nftables')],
    ];
    const seen = new Set([checkpointKey(base)]);
    for (const [what, change] of changes) {
      const key = variant(change);
      assert.ok(!seen.has(key), `${what} changes the key`);
      seen.add(key);
    }
  });

  test("iptables, CRIU's default network lock, gives the key a runtime without the field always had", () => {
    assert.equal(
      variant((i) => (i.runtime.criuNetworkLock = 'iptables')),
      checkpointKey(base),
    );
    const caps = {
      criuOk: true,
      arch: 'x64',
      cpuFlags: 'aes avx2 sse4_2',
      kernel: '6.1.0-28-amd64',
      criuVersion: '3.17.1',
      criuMode: 'breakpoints',
      runcVersion: '1.1.5+ds1',
    };
    assert.equal(runtimeKeyOfCapabilities(caps), runtimeKey(base.runtime));
    assert.equal(runtimeKeyOfCapabilities({ ...caps, criuNetworkLock: '' }), runtimeKey(base.runtime));
    assert.equal(
      runtimeKeyOfCapabilities({ ...caps, criuNetworkLock: 'nftables' }),
      runtimeKey({ ...base.runtime, criuNetworkLock: 'nftables' }),
    );
    assert.notEqual(runtimeKeyOfCapabilities({ ...caps, criuNetworkLock: 'nftables' }), runtimeKey(base.runtime));
  });

  test('fields outside the process shape are ignored (labels, selector on a wider spec object)', () => {
    const wide = { ...base, spec: { ...base.spec, nodeSelector: { zone: 'a' }, restartPolicy: 'Always' } };
    assert.equal(checkpointKey(wide as CheckpointKeyInput), checkpointKey(base));
  });

  test('a tag or empty tenant is refused: keys are built from pinned digests only', () => {
    assert.throws(() => variant((i) => (i.digest = 'latest')), /not a pinned sha256 digest/);
    assert.throws(() => variant((i) => (i.digest = `sha256:${'A'.repeat(64)}`)), /not a pinned sha256 digest/);
    assert.throws(() => variant((i) => (i.tenant = '')), /tenant is required/);
  });

  test('env values that look like separators cannot collide', () => {
    const a = variant((i) => (i.spec.env = { A: 'x","B":"y' }));
    const b = variant((i) => (i.spec.env = { A: 'x', B: 'y' }));
    assert.notEqual(a, b);
  });
});

describe('checkpointSpecKey', () => {
  test('ignores the runtime but not the tenant, digest or process-shaping spec', () => {
    const pod = { tenant: base.tenant, digest: base.digest, spec: base.spec };
    const key = checkpointSpecKey(pod);
    assert.match(key, CHECKPOINT_SPEC_KEY);
    assert.notEqual(key, checkpointKey(base));
    assert.equal(checkpointSpecKey({ ...pod, spec: { ...pod.spec, env: { LEVEL: 'info', MODE: 'prod' } } }), key);
    assert.notEqual(checkpointSpecKey({ ...pod, digest: `sha256:${'b'.repeat(64)}` }), key);
    assert.notEqual(checkpointSpecKey({ ...pod, spec: { ...pod.spec, args: [] } }), key);
    assert.throws(() => checkpointSpecKey({ ...pod, digest: 'latest' }), /not a pinned sha256 digest/);
  });
});

describe('canonicalJson', () => {
  test('sorts keys at every level, keeps array order, drops undefined members', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, 1], c: 'x' }, u: undefined }), '{"a":{"c":"x","d":[3,1]},"b":1}');
  });
  test('refuses values without a faithful JSON form', () => {
    assert.throws(() => canonicalJson({ n: Number.NaN }), /finite/);
    assert.throws(() => canonicalJson([undefined]), /undefined has no JSON form/);
  });
});
