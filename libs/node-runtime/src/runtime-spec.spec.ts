import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ImageConfig } from '@warmpod/registry';
import { NodeRuntimeError } from './errors';
import { buildRuntimeSpec, mergeEnv, resolveArgv, type RuntimeSpecInput } from './runtime-spec';

/** Shaped like umoci's generated config.json, trimmed. */
function umociConfig(): Record<string, unknown> {
  return {
    ociVersion: '1.0.0',
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: ['CAP_KILL'] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs' },
    hostname: 'umoci-default',
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/kcore'],
    },
  };
}

const image: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  config: { Entrypoint: ['/entry'], Cmd: ['serve', '--port', '80'], Env: ['PATH=/bin', 'MODE=prod', 'KEEP=1'], WorkingDir: '/app' },
};

function input(overrides: Partial<RuntimeSpecInput> = {}): RuntimeSpecInput {
  return {
    baseConfig: umociConfig(),
    imageConfig: image,
    command: [],
    args: [],
    env: {},
    rootfsPath: '/data/pods/p1/merged',
    netnsPath: '/var/run/netns/wp.n1.p1',
    cgroupsPath: '/warmpod-n1/p1',
    resources: { cpu: 0.5, memoryMiB: 256 },
    hostname: 'p1',
    podId: 'p1',
    ...overrides,
  };
}

test('without pod command or args the image Entrypoint and Cmd run', () => {
  assert.deepEqual(resolveArgv(image, { command: [], args: [] }), ['/entry', 'serve', '--port', '80']);
});

test('pod args replace the image Cmd and keep the Entrypoint', () => {
  assert.deepEqual(resolveArgv(image, { command: [], args: ['check'] }), ['/entry', 'check']);
});

test('pod command replaces the Entrypoint and drops the image Cmd', () => {
  assert.deepEqual(resolveArgv(image, { command: ['sh', '-c'], args: [] }), ['sh', '-c']);
  assert.deepEqual(resolveArgv(image, { command: ['sh', '-c'], args: ['exit 3'] }), ['sh', '-c', 'exit 3']);
});

test('pod env overrides image env by name and keeps image order', () => {
  assert.deepEqual(mergeEnv(['PATH=/bin', 'MODE=prod', 'EQ=a=b'], { MODE: 'dev', NEW: 'x' }), ['PATH=/bin', 'MODE=dev', 'EQ=a=b', 'NEW=x']);
});

test('a PATH is always present', () => {
  assert.match(mergeEnv([], { A: '1' })[0]!, /^PATH=/);
});

test('the spec runs without a terminal, in the pod netns, with limits', () => {
  const spec = buildRuntimeSpec(input({ env: { MODE: 'dev' } }));
  assert.equal(spec.process.terminal, false);
  assert.deepEqual(spec.process.args, ['/entry', 'serve', '--port', '80']);
  assert.deepEqual(spec.process.env, ['PATH=/bin', 'MODE=dev', 'KEEP=1']);
  assert.equal(spec.process.cwd, '/app');
  assert.deepEqual(spec.root, { path: '/data/pods/p1/merged', readonly: false });
  assert.equal(spec.hostname, 'p1');
  assert.equal(spec.linux.cgroupsPath, '/warmpod-n1/p1');
  assert.equal(spec.linux.resources.memory.limit, 256 * 1024 * 1024);
  assert.deepEqual(spec.linux.resources.cpu, { quota: 50_000, period: 100_000 });
  const network = spec.linux.namespaces.filter((ns) => ns.type === 'network');
  assert.deepEqual(network, [{ type: 'network', path: '/var/run/netns/wp.n1.p1' }]);
  assert.deepEqual(spec.linux.namespaces.map((ns) => ns.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts']);
});

test('fields the pod does not shape pass through untouched', () => {
  const spec = buildRuntimeSpec(input()) as unknown as Record<string, Record<string, unknown>>;
  assert.deepEqual(spec['mounts'], [{ destination: '/proc', type: 'proc', source: 'proc' }]);
  assert.deepEqual(spec['process']!['rlimits'], [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]);
  assert.deepEqual((spec['linux']!['resources'] as Record<string, unknown>)['devices'], [{ allow: false, access: 'rwm' }]);
  assert.deepEqual(spec['linux']!['maskedPaths'], ['/proc/kcore']);
});

test('the base config is not modified', () => {
  const base = umociConfig();
  const before = JSON.stringify(base);
  buildRuntimeSpec(input({ baseConfig: base }));
  assert.equal(JSON.stringify(base), before);
});

test('a negative oomScoreAdj is never asked for; a non-negative one is kept', () => {
  const negative = umociConfig();
  (negative['process'] as Record<string, unknown>)['oomScoreAdj'] = -500;
  assert.equal('oomScoreAdj' in buildRuntimeSpec(input({ baseConfig: negative })).process, false);
  const positive = umociConfig();
  (positive['process'] as Record<string, unknown>)['oomScoreAdj'] = 100;
  assert.equal(buildRuntimeSpec(input({ baseConfig: positive })).process.oomScoreAdj, 100);
});

test('a tiny cpu share still gets the kernel minimum quota', () => {
  assert.equal(buildRuntimeSpec(input({ resources: { cpu: 0.001, memoryMiB: 16 } })).linux.resources.cpu.quota, 1000);
});

test('an empty final argv is refused with a clear error', () => {
  const bare: ImageConfig = { config: { Env: ['PATH=/bin'] } };
  assert.throws(
    () => buildRuntimeSpec(input({ imageConfig: bare })),
    (error: unknown) => error instanceof NodeRuntimeError && /for pod p1/.test(error.message) && /no command/.test(error.message),
  );
});

test('a base config missing what the pod rewrites is refused', () => {
  const broken = umociConfig();
  delete broken['linux'];
  assert.throws(() => buildRuntimeSpec(input({ baseConfig: broken })), /base config.json is invalid at linux/);
});

test('relative paths are refused', () => {
  assert.throws(() => buildRuntimeSpec(input({ rootfsPath: 'merged' })), /not absolute/);
  assert.throws(() => buildRuntimeSpec(input({ cgroupsPath: 'warmpod/p1' })), /must start with/);
});

test("the node's CRIU config reaches runc as the org.criu.config annotation, beside the image's own annotations", () => {
  assert.equal(buildRuntimeSpec(input()).annotations, undefined, 'a node without CRIU adds none');
  const base = { ...umociConfig(), annotations: { 'org.opencontainers.image.title': 'app' } };
  const spec = buildRuntimeSpec(input({ baseConfig: base, criuConfigPath: '/var/lib/warmpod/criu-runc.conf' }));
  assert.deepEqual(spec.annotations, {
    'org.opencontainers.image.title': 'app',
    'org.criu.config': '/var/lib/warmpod/criu-runc.conf',
  });
  assert.throws(() => buildRuntimeSpec(input({ criuConfigPath: 'criu-runc.conf' })), /CRIU config path "criu-runc.conf" is not absolute/);
});
