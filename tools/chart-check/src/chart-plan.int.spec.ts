import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Helm, type K8sObject } from './helm';
import { hostsFile, planPods, type ContainerPlan, type Plan } from './testing/pod-plan';

/**
 * The chart-runs-here harness's plan of the rendered chart (what its runc
 * kubelet starts; `npm run chart:run` runs it for real, images included).
 * Checked here without images or runc: the pods, their env as the downward
 * API and Secrets fill it, mounts, privileges, probes and Service names.
 */
const NODES = [
  { name: 'ip-10-0-0-7.ec2.internal', hostIP: '127.0.0.1' },
  { name: 'ip-10-0-0-8.ec2.internal', hostIP: '127.0.0.1' },
];
const VALUES = {
  'redis.url': 'redis://127.0.0.1:6390',
  'redis.users.existingSecret': 'users',
  'auth.tokens': { 'plan-token-0123456789': { tenant: 'team-a', role: 'tenant' } },
  'gateway.intake.tenants': ['team-a'],
  'tls.schedulerSecret': 'scheduler-tls',
  'tls.gatewaySecret': 'gateway-tls',
};
const SECRETS = {
  ...Object.fromEntries(['gateway', 'scheduler', 'prepuller', 'worker-agent'].map((s) => [`users/${s}`, `${s}-password`])),
  ...Object.fromEntries(
    ['scheduler', 'gateway'].flatMap((s) => ['ca.crt', 'tls.crt', 'tls.key'].map((k) => [`${s}-tls/${k}`, `${s} ${k}`])),
  ),
};

let helm: Helm;
let objects: K8sObject[];
let plan: Plan;
const one = (pod: string): ContainerPlan => {
  const c = plan.containers.find((x) => x.pod === pod);
  assert.ok(c, `no container of ${pod} in ${plan.containers.map((x) => x.pod).join(', ')}`);
  return c;
};

before(async () => {
  helm = await Helm.open();
  const rendered = await helm.template({ setJson: VALUES });
  if ('error' in rendered) throw new Error(rendered.error);
  objects = rendered.objects;
  plan = planPods({ objects, namespace: 'warmpod', nodes: NODES, externalSecrets: SECRETS });
});

after(async () => {
  await helm?.close();
});

describe('the harness plans the rendered chart as a kubelet would run it', () => {
  test('each Deployment once, the DaemonSet once per node', () => {
    assert.deepEqual(plan.containers.map((c) => c.pod).sort(), [
      'wp-warmpod-agent-ip-10-0-0-7.ec2.internal',
      'wp-warmpod-agent-ip-10-0-0-8.ec2.internal',
      'wp-warmpod-gateway',
      'wp-warmpod-prepuller',
      'wp-warmpod-scheduler',
    ]);
  });

  test("the agent's node id is its Node's name, dots and all, and it gets the node's address", () => {
    for (const node of NODES) {
      const agent = one(`wp-warmpod-agent-${node.name}`);
      assert.equal(agent.env['NODE_ID'], node.name);
      assert.equal(agent.env['AGENT_HOST'], node.hostIP);
    }
  });

  test('the agent is privileged on the host network and PID namespace, with its host paths shared both ways', () => {
    const agent = one(`wp-warmpod-agent-${NODES[0]!.name}`);
    assert.equal(agent.privileged, true);
    assert.equal(agent.hostNetwork, true);
    assert.equal(agent.hostPID, true);
    const host = (path: string) => agent.mounts.find((m) => m.mountPath === path);
    assert.deepEqual(host('/var/lib/warmpod'), {
      kind: 'host',
      hostPath: '/var/lib/warmpod',
      mountPath: '/var/lib/warmpod',
      readOnly: false,
      propagation: 'rshared',
    });
    assert.deepEqual(host('/run/netns'), {
      kind: 'host',
      hostPath: '/run/netns',
      mountPath: '/run/netns',
      readOnly: false,
      propagation: 'rshared',
    });
    assert.equal(host('/sys/fs/cgroup')?.kind, 'host');
    assert.equal(host('/tmp')?.kind, 'empty');
    assert.deepEqual(
      agent.probes.map((p) => [p.kind, p.scheme, p.port, p.path]),
      [
        ['startup', 'https', 7071, '/healthz'],
        ['liveness', 'https', 7071, '/healthz'],
      ],
    );
  });

  test('the control plane runs restricted: its uid, no capability, a read-only root, its own password file only', () => {
    const gateway = one('wp-warmpod-gateway');
    assert.deepEqual(gateway.user, { uid: 65532, gid: 65532 });
    assert.equal(gateway.dropAllCaps, true);
    assert.equal(gateway.noNewPrivileges, true);
    assert.equal(gateway.readOnlyRoot, true);
    assert.equal(gateway.privileged, false);
    const files = gateway.mounts.flatMap((m) => (m.kind === 'files' ? m.files.map((f) => `${m.mountPath}/${f.path}=${f.content}`) : []));
    assert.ok(files.includes('/etc/warmpod/redis/password=gateway-password'), files.join('\n'));
    assert.ok(!files.some((f) => f.includes('scheduler-password')));
    assert.ok(
      files.some((f) => f.startsWith('/etc/warmpod/tokens/tokens.json={"plan-token-0123456789"')),
      files.join('\n'),
    );
    assert.equal(gateway.env['INTAKE_TENANTS'], 'team-a');
    assert.deepEqual(
      gateway.probes.map((p) => [p.kind, p.port, p.path]),
      [
        ['startup', 8080, '/healthz'],
        ['liveness', 8080, '/healthz'],
        ['readiness', 8080, '/readyz'],
      ],
    );
  });

  test('Service names resolve to loopback in every container', () => {
    const scheduler = new URL(one(`wp-warmpod-agent-${NODES[0]!.name}`).env['SCHEDULER_GRPC_URL']!).hostname;
    assert.equal(scheduler, 'wp-warmpod-scheduler.warmpod.svc');
    assert.ok(plan.serviceHosts.includes(scheduler));
    assert.match(hostsFile(plan, 'wp-warmpod-gateway'), new RegExp(`^127\\.0\\.0\\.1 .*\\b${scheduler.replace(/\./g, '\\.')}\\b`, 'm'));
  });

  test('a Secret that is neither rendered nor given is named in the error', () => {
    assert.throws(
      () => planPods({ objects, namespace: 'warmpod', nodes: NODES, externalSecrets: {} }),
      /reads Secret (users|scheduler-tls|gateway-tls) key [a-z.-]+, which is neither rendered nor given/,
    );
  });
});
