import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildImage, freePort, LocalRegistry } from '@warmpod/devkit';
import type { K8sObject } from './helm';
import { ImageUnpacker } from './testing/image-unpack';
import { planPods } from './testing/pod-plan';
import { mountsUnder, RuncKubelet } from './testing/runc-kubelet';

/**
 * The harness's kubelet for real, lean: what `npm run chart:run` does with
 * warmpod's images (minutes to build), done here with a busybox image of a
 * few seconds on rendered-style objects: env from a Secret and the downward
 * API, a Secret volume, an emptyDir, a hostPath (a Bidirectional one whose mounts reach the host), a readiness probe on a named
 * port, a Service name in /etc/hosts, a DaemonSet on two nodes; then stop,
 * and nothing left.
 */
const b64 = (s: string) => Buffer.from(s).toString('base64');
let dir: string;
let registry: LocalRegistry;
let image: string;
let port: number;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wp-kubelet-'));
  registry = await LocalRegistry.start({ storageDir: join(dir, 'registry') });
  await buildImage({
    registryHost: registry.host,
    name: 'warmpod/kubelet-probe',
    tag: 'v1',
    workDir: join(dir, 'build'),
    cmd: ['sleep', '3600'],
  });
  image = `${registry.host}/warmpod/kubelet-probe:v1`;
  port = await freePort();
});

after(async () => {
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** What the web container shows over HTTP: its env, its Secret file and its /etc/hosts; it also writes to the hostPath. */
const SCRIPT = [
  'mkdir -p /scratch/www',
  'env > /scratch/www/env.txt',
  'cat /etc/conf/greeting > /scratch/www/secret.txt',
  'cat /etc/hosts > /scratch/www/hosts.txt',
  'echo written by the pod > /node/from-pod.txt',
  'exec httpd -f -p "$PORT" -h /scratch/www',
].join(' && ');

function objects(): K8sObject[] {
  const container = (name: string, extra: Record<string, unknown>) => ({ name, image, ...extra });
  return [
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'conf' }, data: { token: b64('sekrit'), greeting: b64('hello from a secret') } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        template: {
          spec: {
            containers: [
              container('httpd', {
                command: ['sh', '-c', SCRIPT],
                ports: [{ name: 'http', containerPort: port }],
                env: [
                  { name: 'PORT', value: String(port) },
                  { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'conf', key: 'token' } } },
                  { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                ],
                volumeMounts: [
                  { name: 'conf', mountPath: '/etc/conf', readOnly: true },
                  { name: 'scratch', mountPath: '/scratch' },
                  { name: 'node', mountPath: '/node' },
                ],
                readinessProbe: { httpGet: { path: '/env.txt', port: 'http' } },
              }),
            ],
            volumes: [
              { name: 'conf', secret: { secretName: 'conf', items: [{ key: 'greeting', path: 'greeting' }] } },
              { name: 'scratch', emptyDir: {} },
              { name: 'node', hostPath: { path: join(dir, 'node-a') } },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'per-node' },
      spec: {
        template: {
          spec: {
            hostNetwork: true,
            hostPID: true,
            containers: [
              container('mounter', {
                securityContext: { privileged: true },
                // A mount made in the container under a Bidirectional hostPath must reach the host.
                command: ['sh', '-c', 'mkdir -p /shared/$NODE && busybox mount -t tmpfs tmpfs /shared/$NODE && exec sleep 3600'],
                env: [{ name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
                volumeMounts: [{ name: 'shared', mountPath: '/shared', mountPropagation: 'Bidirectional' }],
              }),
            ],
            volumes: [{ name: 'shared', hostPath: { path: join(dir, 'shared') } }],
          },
        },
      },
    },
  ];
}

describe('the harness kubelet runs rendered pods as runc containers', () => {
  test('env, volumes, probes and Service names as a kubelet gives them; stop leaves nothing', async () => {
    const plan = planPods({
      objects: objects(),
      namespace: 'ns',
      nodes: [
        { name: 'node-a.example.internal', hostIP: '127.0.0.1' },
        { name: 'node-b.example.internal', hostIP: '127.0.0.1' },
      ],
    });
    const lines: string[] = [];
    const kubelet = new RuncKubelet({
      workDir: join(dir, 'kubelet'),
      nodeRoot: dir,
      plan,
      images: new ImageUnpacker(join(dir, 'images'), { insecure: true }),
      log: (l) => lines.push(l),
      readyTimeoutMs: 30_000,
    });
    try {
      await kubelet.startAll();
      assert.equal(lines.length, 3, lines.join('\n'));
      const get = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).text();
      const env = await get('/env.txt');
      assert.match(env, /^TOKEN=sekrit$/m);
      assert.match(env, /^NODE=node-a\.example\.internal$/m);
      assert.equal(await get('/secret.txt'), 'hello from a secret');
      assert.match(await get('/hosts.txt'), /^127\.0\.0\.1 web web\.ns web\.ns\.svc web\.ns\.svc\.cluster\.local$/m);
      assert.equal(await readFile(join(dir, 'node-a', 'from-pod.txt'), 'utf8'), 'written by the pod\n');
      const shared = ['node-a.example.internal', 'node-b.example.internal'].map((n) => join(dir, 'shared', n));
      const deadline = Date.now() + 10_000;
      while (!(await Promise.all(shared.map(async (p) => (await mountsUnder(p)).includes(p)))).every(Boolean)) {
        assert.ok(Date.now() < deadline, `the pods' mounts did not reach the host: ${(await mountsUnder(join(dir, 'shared'))).join(', ')}`);
        await sleep(100);
      }
    } finally {
      await kubelet.stop();
    }
    assert.deepEqual(await kubelet.leftovers(), []);
    assert.deepEqual(await mountsUnder(dir), []);
    assert.ok(
      lines.some((l) => l.startsWith(`left under ${join(dir, 'shared')} by its pods`)),
      lines.join('\n'),
    );
  });

  test('a container that exits before it is ready fails the start with its output, and is still cleaned up', async () => {
    const broken = objects().filter((o) => o.kind !== 'DaemonSet');
    const web = broken.find((o) => o.kind === 'Deployment') as
      { spec: { template: { spec: { containers: Array<{ command: string[] }> } } } } | undefined;
    web!.spec.template.spec.containers[0]!.command = ['sh', '-c', 'echo broken on purpose; exit 3'];
    const plan = planPods({ objects: broken, namespace: 'ns', nodes: [{ name: 'node-a', hostIP: '127.0.0.1' }] });
    const kubelet = new RuncKubelet({
      workDir: join(dir, 'kubelet-broken'),
      plan,
      images: new ImageUnpacker(join(dir, 'images-2'), { insecure: true }),
      log: () => undefined,
    });
    try {
      await assert.rejects(kubelet.startAll(), /web-httpd is stopped before it was ready: broken on purpose/);
    } finally {
      await kubelet.stop();
    }
    assert.deepEqual(await kubelet.leftovers(), []);
  });
});
