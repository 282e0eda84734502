import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { UnpackedImage } from './image-unpack';
import type { ContainerPlan } from './pod-plan';
import { capsOfMask, runtimeSpec, type SpecPaths } from './runc-spec';

const image: UnpackedImage = {
  reference: 'r/app@sha256:x',
  rootfs: '/img/rootfs',
  entrypoint: ['/nodejs/bin/node'],
  cmd: ['/app/main.js'],
  env: ['PATH=/usr/bin:/bin', 'NODE_ENV=production'],
  cwd: '/app',
  user: '65532:65532',
};
const base: ContainerPlan = {
  pod: 'wp-gateway',
  workload: 'wp-gateway',
  name: 'gateway',
  image: image.reference,
  args: [],
  env: { NODE_ENV: 'test', GATEWAY_PORT: '8080' },
  mounts: [],
  privileged: false,
  readOnlyRoot: true,
  dropAllCaps: true,
  noNewPrivileges: true,
  hostNetwork: false,
  hostPID: false,
  probes: [],
};
const paths: SpecPaths = {
  rootfs: '/c/rootfs',
  hostname: 'wp-gateway',
  hostsFile: '/c/hosts',
  mountSources: [],
  cgroupsPath: '/p/c',
  hostCaps: ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'],
};

interface Spec {
  process: {
    args: string[];
    env: string[];
    user: { uid: number; gid: number };
    capabilities: { bounding: string[] };
    noNewPrivileges: boolean;
  };
  root: { readonly: boolean };
  mounts: Array<{ destination: string; source: string; options: string[] }>;
  linux: { namespaces: Array<{ type: string }>; rootfsPropagation?: string; maskedPaths?: string[] };
}
const specOf = (c: ContainerPlan, p = paths): Spec => runtimeSpec(c, image, p) as unknown as Spec;

describe('the runtime spec of a planned container', () => {
  test("Kubernetes' command and args over the image's entrypoint and cmd", () => {
    assert.deepEqual(specOf(base).process.args, ['/nodejs/bin/node', '/app/main.js']);
    assert.deepEqual(specOf({ ...base, args: ['--x'] }).process.args, ['/nodejs/bin/node', '--x']);
    assert.deepEqual(specOf({ ...base, command: ['/bin/sh'], args: ['-c', 'true'] }).process.args, ['/bin/sh', '-c', 'true']);
  });

  test("the container's env wins over the image's, the image's user and a restricted container's limits hold", () => {
    const s = specOf(base);
    assert.ok(s.process.env.includes('NODE_ENV=test'));
    assert.ok(!s.process.env.includes('NODE_ENV=production'));
    assert.ok(s.process.env.includes('GATEWAY_PORT=8080'));
    assert.deepEqual(s.process.user, { uid: 65532, gid: 65532 });
    assert.deepEqual(s.process.capabilities.bounding, []);
    assert.equal(s.process.noNewPrivileges, true);
    assert.equal(s.root.readonly, true);
    assert.ok(s.linux.maskedPaths?.includes('/proc/kcore'));
  });

  test('every pod on the host network, hostPID keeps the host PID namespace, /etc/hosts from the pod', () => {
    assert.deepEqual(
      specOf(base).linux.namespaces.map((n) => n.type),
      ['mount', 'ipc', 'uts', 'pid'],
    );
    assert.deepEqual(
      specOf({ ...base, hostPID: true }).linux.namespaces.map((n) => n.type),
      ['mount', 'ipc', 'uts'],
    );
    assert.deepEqual(
      specOf(base).mounts.find((m) => m.destination === '/etc/hosts'),
      { destination: '/etc/hosts', type: 'bind', source: '/c/hosts', options: ['rbind', 'ro'] },
    );
  });

  test('privileged: every capability, no masked paths; Bidirectional host paths are rshared with an rshared root', () => {
    const c: ContainerPlan = {
      ...base,
      privileged: true,
      dropAllCaps: false,
      readOnlyRoot: false,
      mounts: [
        { kind: 'host', hostPath: '/var/lib/warmpod', mountPath: '/var/lib/warmpod', readOnly: false, propagation: 'rshared' },
        { kind: 'host', hostPath: '/sys/fs/cgroup', mountPath: '/sys/fs/cgroup', readOnly: false, propagation: 'rprivate' },
        { kind: 'files', files: [{ path: 'password', content: 'x' }], mountPath: '/etc/warmpod/redis' },
      ],
    };
    const s = specOf(c, { ...paths, mountSources: ['/var/lib/warmpod', '/sys/fs/cgroup', '/c/files-2'] });
    assert.ok(s.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
    assert.equal(s.process.noNewPrivileges, false);
    assert.equal(s.linux.maskedPaths, undefined);
    assert.equal(s.linux.rootfsPropagation, 'rshared');
    const mount = (d: string) => s.mounts.filter((m) => m.destination === d);
    assert.deepEqual(mount('/var/lib/warmpod')[0]?.options, ['rbind', 'rw', 'rshared']);
    assert.equal(mount('/sys/fs/cgroup').length, 1, 'the host cgroup tree replaces the container one');
    assert.deepEqual(mount('/etc/warmpod/redis')[0]?.options, ['rbind', 'ro', 'rprivate']);
  });

  test("privileged means the host runtime's own capabilities, read from a CapBnd mask", () => {
    assert.deepEqual(capsOfMask('0000000000000003'), ['CAP_CHOWN', 'CAP_DAC_OVERRIDE']);
    assert.equal(capsOfMask('000001ffffffffff').length, 41);
    assert.ok(!capsOfMask('000000a80425fb').includes('CAP_SYS_ADMIN'));
  });

  test('a container with no process is refused, naming it', () => {
    assert.throws(
      () => runtimeSpec(base, { ...image, entrypoint: [], cmd: [] }, paths),
      /wp-gateway\/gateway: neither the container nor the image r\/app@sha256:x names a process/,
    );
  });
});
