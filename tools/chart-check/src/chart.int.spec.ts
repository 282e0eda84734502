import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dropKeys, LocalRegistry } from '@warmpod/devkit';
import { CHART_DIR, Helm, REPO_ROOT, type K8sObject } from './helm';
import { typeMapsOf, validateObject, type TypeMaps } from './k8s-fields';
import { configLoaderOf, COMPONENTS, resolveEnv, secretValues, wiringProblems, workloadsOf } from './wiring';

/** The values matrix: ci/*.yaml of the chart, each a way operators install it. */
const MATRIX = [
  'external-redis-values.yaml',
  'bundled-redis-values.yaml',
  'bundled-redis-users-values.yaml',
  'existing-secrets-values.yaml',
  'digests-values.yaml',
  'metrics-netpol-values.yaml',
  'replicas-values.yaml',
];
/** What the operator's own Secrets hold in the existing-secrets case. */
const EXTERNAL_SECRETS = {
  'warmpod-redis/url': 'rediss://redis.example.internal:6380',
  'warmpod-redis-ca/ca.crt': 'redis CA (PEM)',
  'warmpod-intake-redis/intake-redis-url': 'rediss://warmpod-wp-intake:secret@redis.example.internal:6380',
  ...Object.fromEntries(['gateway', 'scheduler', 'prepuller', 'worker-agent'].map((s) => [`warmpod-redis-users/${s}`, `${s} password`])),
  'warmpod-tokens/tokens': '{"ci-token-0123456789":{"tenant":"team-a","role":"tenant"}}',
  ...Object.fromEntries(
    ['scheduler', 'gateway'].flatMap((s) => ['ca.crt', 'tls.crt', 'tls.key'].map((k) => [`warmpod-${s}-tls/${k}`, `${s} ${k} (PEM)`])),
  ),
};
const MINIMAL = { 'redis.url': 'redis://127.0.0.1:6379', 'auth.tokens': { 'ci-token-0123456789': { tenant: 'team-a', role: 'tenant' } } };

let helm: Helm;
let maps: TypeMaps;
const rendered = new Map<string, K8sObject[]>();

async function render(opts: Parameters<Helm['template']>[0]): Promise<K8sObject[]> {
  const res = await helm.template(opts);
  if ('error' in res) assert.fail(res.error);
  return res.objects;
}

async function failure(opts: Parameters<Helm['template']>[0]): Promise<string> {
  const res = await helm.template(opts);
  assert.ok('error' in res, 'rendering should have failed');
  return res.error;
}

before(async () => {
  helm = await Helm.open();
  maps = typeMapsOf(await import('@kubernetes/client-node'));
  await Promise.all(MATRIX.map(async (file) => rendered.set(file, await render({ files: [join('ci', file)] }))));
});

after(async () => {
  await helm?.close();
});

describe('helm lint --strict', () => {
  for (const file of MATRIX) {
    test(file, async () => {
      const res = await helm.run(['lint', '--strict', CHART_DIR, '-f', join(CHART_DIR, 'ci', file)]);
      assert.equal(res.code, 0, res.stdout + res.stderr);
    });
  }
});

describe('rendered objects are valid Kubernetes objects (types, required and unknown fields)', () => {
  for (const file of MATRIX) {
    test(file, () => {
      const objects = rendered.get(file)!;
      assert.ok(objects.length >= 10, `only ${objects.length} objects`);
      assert.deepEqual(
        objects.flatMap((o) => validateObject(o, maps)),
        [],
      );
    });
  }

  test('the matrix covers the optional parts', () => {
    const kinds = (file: string) => new Set(rendered.get(file)!.map((o) => `${o.kind}/${o.metadata.name}`));
    assert.ok(kinds('bundled-redis-values.yaml').has('StatefulSet/wp-warmpod-redis'));
    assert.ok(!kinds('external-redis-values.yaml').has('StatefulSet/wp-warmpod-redis'));
    assert.ok(kinds('bundled-redis-users-values.yaml').has('ConfigMap/wp-warmpod-redis-acl'));
    assert.ok(!kinds('bundled-redis-values.yaml').has('ConfigMap/wp-warmpod-redis-acl'));
    assert.ok(kinds('metrics-netpol-values.yaml').has('ServiceMonitor/wp-warmpod-gateway'));
    assert.ok(kinds('metrics-netpol-values.yaml').has('ServiceMonitor/wp-warmpod-scheduler'));
    assert.ok(kinds('metrics-netpol-values.yaml').has('NetworkPolicy/wp-warmpod-redis'));
    assert.ok(kinds('digests-values.yaml').has('Role/wp-warmpod-prepuller-daemonsets'));
    assert.ok(!kinds('external-redis-values.yaml').has('Role/wp-warmpod-prepuller-daemonsets'));
    const gatewayEnv = (file: string) =>
      workloadsOf(rendered.get(file)!)
        .find((w) => w.component === 'gateway')!
        .container.env.map((e) => e.name)
        .filter((n) => n.startsWith('INTAKE_'));
    assert.deepEqual(gatewayEnv('external-redis-values.yaml'), []);
    assert.ok(gatewayEnv('replicas-values.yaml').includes('INTAKE_DATA_LIMIT_BYTES'));
    assert.ok(gatewayEnv('existing-secrets-values.yaml').includes('INTAKE_REDIS_URL'));
  });

  test('peer blob and prepull spread settings reach the agent and the prepuller (the fetch ones only when peers are asked)', () => {
    const env = (file: string, component: string, prefix: string) =>
      Object.fromEntries(
        workloadsOf(rendered.get(file)!)
          .find((w) => w.component === component)!
          .container.env.filter((e) => e.name.startsWith(prefix))
          .map((e) => [e.name, e.value]),
      );
    assert.deepEqual(env('external-redis-values.yaml', 'agent', 'NODE_PEER_'), {
      NODE_PEER_BLOBS: 'true',
      NODE_PEER_STALL_MS: '5000',
      NODE_PEER_MIN_BYTES_PER_SEC: '262144',
      NODE_PEER_MAX_TRIES: '2',
      NODE_PEER_SERVE_CONCURRENCY: '16',
    });
    assert.deepEqual(env('replicas-values.yaml', 'agent', 'NODE_PEER_'), {
      NODE_PEER_BLOBS: 'true',
      NODE_PEER_STALL_MS: '2000',
      NODE_PEER_MIN_BYTES_PER_SEC: '1048576',
      NODE_PEER_MAX_TRIES: '3',
      NODE_PEER_SERVE_CONCURRENCY: '8',
    });
    assert.deepEqual(env('digests-values.yaml', 'agent', 'NODE_PEER_'), { NODE_PEER_BLOBS: 'false', NODE_PEER_SERVE_CONCURRENCY: '2' });
    const spread = (file: string) => env(file, 'prepuller', 'PREPULL_');
    assert.deepEqual(
      [spread('external-redis-values.yaml').PREPULL_SEED_NODES, spread('external-redis-values.yaml').PREPULL_PEER_FANOUT],
      ['1', '3'],
    );
    assert.deepEqual([spread('replicas-values.yaml').PREPULL_SEED_NODES, spread('replicas-values.yaml').PREPULL_PEER_FANOUT], ['2', '5']);
    assert.equal(spread('digests-values.yaml').PREPULL_PEER_FANOUT, '0');
    assert.equal(spread('external-redis-values.yaml').PREPULL_DIRECT_MAX_BYTES, '1048576');
    assert.equal(spread('replicas-values.yaml').PREPULL_DIRECT_MAX_BYTES, '0');
  });
});

describe('wiring: the apps accept what the chart gives them', () => {
  for (const file of MATRIX) {
    test(file, async () => {
      const objects = rendered.get(file)!;
      const secrets = secretValues(objects, EXTERNAL_SECRETS);
      const workloads = workloadsOf(objects);
      assert.deepEqual(workloads.map((w) => w.component).sort(), ['agent', 'gateway', 'prepuller', 'scheduler']);
      const problems: string[] = [];
      for (const w of workloads) {
        const { env, cleanup } = await resolveEnv(w, secrets);
        try {
          problems.push(...wiringProblems(w, env, await configLoaderOf(COMPONENTS[w.component]!.app)));
        } finally {
          await cleanup();
        }
      }
      assert.deepEqual(problems, []);
    });
  }

  test('a variable the app does not read is caught', async () => {
    const objects = await render({ setJson: { ...MINIMAL, 'scheduler.env': { SCHEDULER_GRPC_PROT: '7070' } } });
    const w = workloadsOf(objects).find((x) => x.component === 'scheduler')!;
    const { env, cleanup } = await resolveEnv(w, secretValues(objects));
    await cleanup();
    assert.deepEqual(wiringProblems(w, env, await configLoaderOf('apps/scheduler')), [
      "scheduler/scheduler: SCHEDULER_GRPC_PROT is not read by the app's config",
    ]);
  });
});

describe('rule 1 for warmpod itself: digests win, tags are pulled Always', () => {
  const images = (objects: K8sObject[]) =>
    workloadsOf(objects).map((w) => ({ image: String(w.container['image']), policy: String(w.container['imagePullPolicy']) }));

  test('with digests every image is pinned and IfNotPresent', () => {
    for (const i of images(rendered.get('digests-values.yaml')!)) {
      assert.match(i.image, /^registry\.example\.internal:5000\/warmpod\/[a-z-]+@sha256:[0-9a-f]{64}$/);
      assert.equal(i.policy, 'IfNotPresent');
    }
  });

  test('without digests the tag is the chart appVersion, pulled Always', () => {
    for (const i of images(rendered.get('external-redis-values.yaml')!)) {
      assert.match(i.image, /^warmpod\/[a-z-]+:0\.1\.0$/);
      assert.equal(i.policy, 'Always');
    }
  });

  test('production mode refuses a tag-only image, naming the value', async () => {
    const pinned = (n: string) => `sha256:${n.repeat(64)}`;
    const values = { ...MINIMAL, 'global.requireDigests': true, 'gateway.image.digest': pinned('1'), 'agent.image.digest': pinned('2') };
    assert.match(
      await failure({ setJson: { ...values, 'prepuller.image.digest': pinned('3') } }),
      /scheduler\.image\.digest is required: global\.requireDigests is on/,
    );
    assert.match(await failure({ setJson: { ...values, 'scheduler.image.digest': pinned('3') } }), /prepuller\.image\.digest is required/);
  });

  test('a tag with IfNotPresent is refused', async () => {
    assert.match(
      await failure({ setJson: { ...MINIMAL, 'agent.image.pullPolicy': 'IfNotPresent' } }),
      /agent\.image\.pullPolicy IfNotPresent with a tag only/,
    );
  });
});

describe('wrong values fail with their path', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no Redis', { 'auth.tokens': MINIMAL['auth.tokens'] }, /redis\.url is required/],
    ['no token', { 'redis.url': MINIMAL['redis.url'] }, /auth\.tokens .* is required/],
    ['a string for replicas', { ...MINIMAL, 'gateway.replicas': 'three' }, /gateway\.replicas: Invalid type\. Expected: integer/],
    ['an unknown key', { ...MINIMAL, 'gateway.imagePullPolice': 'Always' }, /gateway: Additional property imagePullPolice is not allowed/],
    ['a bad digest', { ...MINIMAL, 'scheduler.image.digest': 'sha256:abc' }, /scheduler\.image\.digest: Does not match pattern/],
    ['a bad subnet', { ...MINIMAL, 'agent.subnet': '10.88.0.0' }, /agent\.subnet: Does not match pattern/],
    [
      'a bad token tenant',
      { 'redis.url': MINIMAL['redis.url'], 'auth.tokens': { 'ci-token-0123456789': { tenant: 'Team A', role: 'tenant' } } },
      /auth\.tokens\.ci-token-0123456789\.tenant: Does not match pattern/,
    ],
    ['a bad intake tenant', { ...MINIMAL, 'gateway.intake.tenants': ['Team A'] }, /gateway\.intake\.tenants\.0: Does not match pattern/],
    [
      'an intake rate window of 0',
      { ...MINIMAL, 'gateway.intake.rate': { max: 5, durationMs: 0 } },
      /gateway\.intake\.rate\.durationMs: Must be greater than or equal to 1/,
    ],
    [
      'an upload cap of 0',
      { ...MINIMAL, 'agent.peerBlobs.serveConcurrency': 0 },
      /agent\.peerBlobs\.serveConcurrency: Must be greater than or equal to 1/,
    ],
    [
      'a peer stall under 100 ms',
      { ...MINIMAL, 'agent.peerBlobs.stallMs': 10 },
      /agent\.peerBlobs\.stallMs: Must be greater than or equal to 100/,
    ],
    ['no seed node', { ...MINIMAL, 'prepuller.spread.seedNodes': 0 }, /prepuller\.spread\.seedNodes: Must be greater than or equal to 1/],
    [
      'a negative direct-pull size',
      { ...MINIMAL, 'prepuller.spread.directMaxBytes': -1 },
      /prepuller\.spread\.directMaxBytes: Must be greater than or equal to 0/,
    ],
    [
      'an unknown peer setting',
      { ...MINIMAL, 'agent.peerBlobs.maxPeers': 2 },
      /agent\.peerBlobs: Additional property maxPeers is not allowed/,
    ],
    ['a driver without pause image', { ...MINIMAL, 'prepuller.kubernetes.enabled': true }, /prepuller\.kubernetes\.pauseImage is required/],
  ];
  for (const [name, values, expected] of cases) {
    test(name, async () => assert.match(await failure({ setJson: values }), expected));
  }
});

/** A free loopback port. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  return typeof address === 'object' && address ? address.port : 0;
}

async function waitFor<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await attempt().catch(() => undefined);
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs} ms`);
    // Polling a starting process: it gives no readiness signal of its own.
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("probes hit what the apps serve (the apps' own code, started with the chart's environment)", () => {
  const prefix = `wptest-chart-${process.pid}-${Date.now().toString(36)}:`;
  const redisUrl = process.env['WARMPOD_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

  after(async () => {
    // The apps made queues under the test's own prefix: nothing of them stays.
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      await dropKeys(redis, prefix);
    } finally {
      redis.disconnect();
    }
  });

  /** Starts an app's build output with the rendered env, listening on loopback; stops it after. */
  async function withApp(
    component: string,
    overrides: (port: number) => Record<string, string>,
    check: (port: number) => Promise<void>,
  ): Promise<void> {
    const objects = rendered.get('external-redis-values.yaml')!;
    const w = workloadsOf(objects).find((x) => x.component === component)!;
    const { env, cleanup } = await resolveEnv(w, secretValues(objects));
    const port = await freePort();
    const child = spawn(process.execPath, [join(REPO_ROOT, COMPONENTS[component]!.app, 'dist', 'main.js')], {
      env: {
        ...env,
        WARMPOD_REDIS_URL: process.env['WARMPOD_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
        WARMPOD_PREFIX: prefix,
        ...overrides(port),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    try {
      await check(port).catch((error: unknown) => assert.fail(`${String(error)}\n${stderr}`));
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
      await cleanup();
    }
  }

  test('gateway: every httpGet path answers 200', async () => {
    const w = workloadsOf(rendered.get('external-redis-values.yaml')!).find((x) => x.component === 'gateway')!;
    const paths = [w.container.startupProbe, w.container.livenessProbe, w.container.readinessProbe]
      .map((p) => p?.httpGet?.path)
      .filter((p) => p !== undefined);
    assert.deepEqual([...new Set(paths)].sort(), ['/healthz', '/readyz']);
    // The gateway is ready only while its default registry answers: a registry of the test's own stands in for the cluster's.
    const storageDir = await mkdtemp(join(tmpdir(), 'wp-chart-registry-'));
    const registry = await LocalRegistry.start({ storageDir });
    try {
      await withApp(
        'gateway',
        (port) => ({ GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: String(port), WARMPOD_DEFAULT_REGISTRY: registry.host }),
        async (port) => {
          for (const path of paths) {
            const status = await waitFor(`gateway ${path}`, () =>
              fetch(`http://127.0.0.1:${port}${path}`).then((r) => (r.status === 200 ? r.status : undefined)),
            );
            assert.equal(status, 200, path);
          }
        },
      );
    } finally {
      await registry.stop();
      await rm(storageDir, { recursive: true, force: true });
    }
  });

  for (const [component, portEnv] of [
    ['scheduler', 'SCHEDULER_HTTP'],
    ['prepuller', 'PREPULLER_HTTP'],
  ] as const) {
    test(`${component}: every httpGet path answers 200, and /metrics is served on that port`, async () => {
      const w = workloadsOf(rendered.get('external-redis-values.yaml')!).find((x) => x.component === component)!;
      const paths = [w.container.startupProbe, w.container.livenessProbe, w.container.readinessProbe]
        .map((p) => p?.httpGet?.path)
        .filter((p) => p !== undefined);
      assert.deepEqual([...new Set(paths)].sort(), ['/healthz', '/readyz']);
      await withApp(
        component,
        (port) => ({
          [`${portEnv}_HOST`]: '127.0.0.1',
          [`${portEnv}_PORT`]: String(port),
          ...(component === 'scheduler' ? { SCHEDULER_GRPC_HOST: '127.0.0.1', SCHEDULER_GRPC_PORT: '0' } : {}),
        }),
        async (port) => {
          for (const path of [...paths, '/metrics']) {
            const status = await waitFor(`${component} ${path}`, () =>
              fetch(`http://127.0.0.1:${port}${path}`).then((r) => (r.status === 200 ? r.status : undefined)),
            );
            assert.equal(status, 200, path);
          }
        },
      );
    });
  }

  test("agent: every httpGet path answers 200 from the agent's HTTP endpoint", async () => {
    const w = workloadsOf(rendered.get('external-redis-values.yaml')!).find((x) => x.component === 'agent')!;
    const paths = [w.container.startupProbe, w.container.livenessProbe].map((p) => p?.httpGet?.path).filter((p) => p !== undefined);
    // The whole agent needs runc and a node: its HTTP endpoint class is started alone.
    const mod: unknown = await import(pathToFileURL(join(REPO_ROOT, 'apps/worker-agent/dist/agent-http.js')).href);
    const AgentHttp: unknown = typeof mod === 'object' && mod !== null ? Reflect.get(mod, 'AgentHttp') : undefined;
    assert.ok(typeof AgentHttp === 'function');
    const http: object = Reflect.construct(AgentHttp, [() => '/nonexistent']);
    const listen: unknown = Reflect.get(http, 'listen');
    const close: unknown = Reflect.get(http, 'close');
    assert.ok(typeof listen === 'function' && typeof close === 'function');
    const url: unknown = await listen.call(http, '127.0.0.1', 0);
    try {
      for (const path of paths) assert.equal((await fetch(`${String(url)}${path}`)).status, 200, path);
    } finally {
      await close.call(http);
    }
  });
});
