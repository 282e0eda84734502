import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { RedisServer } from '@warmpod/devkit';
import { applyAclUsers, Keys, serviceUser, WARMPOD_SERVICES } from '@warmpod/store';
import { Helm, type K8sObject } from './helm';
import { expectedAclRules } from './redis-acl-chart';

/** The bundled Redis with per-service users: the chart builds the aclfile itself from the users Secret. */
let helm: Helm;
let objects: K8sObject[];
let dir: string;

const configMap = z.object({ data: z.record(z.string(), z.string()) });
const container = z
  .object({ name: z.string(), command: z.array(z.string()).optional(), args: z.array(z.string()).optional() })
  .passthrough();
const statefulSet = z.object({
  spec: z.object({
    template: z.object({
      metadata: z.object({ annotations: z.record(z.string(), z.string()).optional() }),
      spec: z.object({
        initContainers: z.array(container).optional(),
        containers: z.array(container),
        volumes: z.array(z.object({ name: z.string() }).passthrough()).optional(),
      }),
    }),
  }),
});

function find(kind: string, name: string): K8sObject {
  return objects.find((o) => o.kind === kind && o.metadata.name === name) ?? assert.fail(`${kind}/${name} not rendered`);
}

async function render(setJson: Record<string, unknown>): Promise<K8sObject[]> {
  const res = await helm.template({ files: ['ci/bundled-redis-users-values.yaml'], setJson });
  if ('error' in res) assert.fail(res.error);
  return res.objects;
}

before(async () => {
  helm = await Helm.open();
  objects = await render({ 'redis.users.names': { prepuller: 'wp-prepull' } });
  dir = await mkdtemp(join(tmpdir(), 'warmpod-chart-acl-'));
});

after(async () => {
  await helm?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('bundled Redis with per-service users', () => {
  test("the rules are serviceUser's for the chart's prefix and user names; Redis starts with the aclfile an init container builds", () => {
    const data = configMap.parse(find('ConfigMap', 'wp-warmpod-redis-acl')).data;
    for (const service of WARMPOD_SERVICES) {
      const name = service === 'prepuller' ? 'wp-prepull' : `warmpod-wp-${service}`;
      assert.equal(data[service], `${name} ${expectedAclRules('wp:', service)}`, service);
    }
    const pod = statefulSet.parse(find('StatefulSet', 'wp-warmpod-redis')).spec.template;
    assert.deepEqual(
      pod.spec.initContainers?.map((c) => c.command),
      [['sh', '/rules/build-aclfile.sh']],
    );
    const args = pod.spec.containers[0]!.args ?? [];
    assert.equal(args[args.indexOf('--aclfile') + 1], '/acl/users.acl');
    assert.deepEqual(pod.spec.volumes?.map((v) => v.name).sort(), ['acl', 'acl-rules', 'acl-users', 'data']);
    assert.match(pod.metadata.annotations?.['checksum/acl'] ?? '', /^[a-f0-9]{64}$/);
  });

  test('aclUsers=false, or no users Secret: no ConfigMap, no aclfile', async () => {
    for (const values of [{ 'redis.bundled.aclUsers': false }, { 'redis.users.existingSecret': '' }]) {
      const plain = await render(values);
      assert.ok(!plain.some((o) => o.kind === 'ConfigMap' && o.metadata.name === 'wp-warmpod-redis-acl'), JSON.stringify(values));
      const args = statefulSet.parse(plain.find((o) => o.kind === 'StatefulSet')).spec.template.spec.containers[0]!.args ?? [];
      assert.ok(!args.includes('--aclfile'));
    }
  });

  test("the init container's script, run on files as the pod mounts them, gives a real Redis users that work as the services' and refuse the rest", async () => {
    const data = configMap.parse(find('ConfigMap', 'wp-warmpod-redis-acl')).data;
    const [rules, users, acl] = ['rules', 'users', 'acl'].map((d) => join(dir, d)) as [string, string, string];
    for (const d of [rules, users, acl]) await mkdir(d);
    const script = (data['build-aclfile.sh'] ?? assert.fail('no script'))
      // The pod's mount points, where a path starts (not /users inside /acl/users.acl).
      .replace(/(^|[\s"'=])\/(rules|users|acl)\b/gm, (_m, lead: string, d: string) => `${lead}${join(dir, d)}`);
    for (const service of WARMPOD_SERVICES) {
      await writeFile(join(rules, service), data[service]!);
      await writeFile(join(users, service), `${service} pw with spaces\n`); // a Secret's value may end in a newline
    }
    await writeFile(join(users, 'admin'), 'admin-pw');
    await writeFile(join(rules, 'build-aclfile.sh'), script);
    await promisify(execFile)('sh', [join(rules, 'build-aclfile.sh')]);
    assert.doesNotMatch(await readFile(join(acl, 'users.acl'), 'utf8'), /pw with spaces|admin-pw/, 'passwords are stored hashed');

    const server = await RedisServer.start({ dir: acl });
    const open: Redis[] = [];
    const as = (username: string, password: string) => {
      const r = new Redis({ port: server.port, host: '127.0.0.1', username, password, lazyConnect: true, maxRetriesPerRequest: 0 });
      r.on('error', () => undefined); // a refused login is asserted on the command
      open.push(r);
      return r;
    };
    try {
      const anonymous = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
      anonymous.on('error', () => undefined);
      open.push(anonymous);
      await assert.rejects(anonymous.set('wp:x', '1'), /NOAUTH/, 'the default user is off');
      const admin = as('admin', 'admin-pw');
      // The same users made the way npm start and the tests make them, under other names: Redis must hold the same rules.
      await applyAclUsers(
        admin,
        WARMPOD_SERVICES.map((s) => ({ ...serviceUser('wp:', s, `${s} pw with spaces`), name: `ref-${s}` })),
      );
      const keys = new Keys('wp:');
      for (const service of WARMPOD_SERVICES) {
        const name = service === 'prepuller' ? 'wp-prepull' : `warmpod-wp-${service}`;
        assert.deepEqual(await admin.call('ACL', 'GETUSER', name), await admin.call('ACL', 'GETUSER', `ref-${service}`), service);
        const redis = as(name, `${service} pw with spaces`);
        assert.equal(await redis.ping(), 'PONG', `${service} logs in with its password`);
        assert.equal(await redis.exists(keys.podStatus('p1')), 0, `${service} reads`);
      }
      await as('warmpod-wp-gateway', 'gateway pw with spaces').hset(keys.podStatus('p1'), 'phase', 'Pending');
      await assert.rejects(as('warmpod-wp-gateway', 'gateway pw with spaces').hset(keys.pull('n1', 'd'), 'state', 'ready'), /NOPERM/);
      await assert.rejects(as('warmpod-wp-worker-agent', 'worker-agent pw with spaces').hset(keys.pin('p'), 'state', 'x'), /NOPERM/);
      await assert.rejects(as('wp-prepull', 'wrong').ping(), /WRONGPASS/);
    } finally {
      for (const r of open) r.disconnect();
      await server.close();
    }
  });
});
