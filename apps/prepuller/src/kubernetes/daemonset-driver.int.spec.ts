import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createLogger } from '@warmpod/observability';
import type { PinRecord } from '@warmpod/store';
import { connectDaemonSetApi, type DaemonSetApi } from './daemonset-api';
import { KubernetesPrepullDriver } from './daemonset-driver';
import { daemonSetFor, warmId } from './daemonset-spec';
import { FakeApiServer } from './testing/fake-api-server';

const logger = createLogger({ service: 'k8s-driver-int', level: 'silent' });
const NS = 'warmpod-prepull';
const PAUSE = `registry.local/pause@sha256:${'e'.repeat(64)}`;
const OPTS = { namespace: NS, pauseImage: PAUSE, noopCommand: ['true'] };
const OLD = `sha256:${'0'.repeat(64)}`;
const NEW = `sha256:${'1'.repeat(64)}`;
const LIST_URL = `/apis/apps/v1/namespaces/${NS}/daemonsets?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dwarmpod-prepuller`;

function pinOf(id: string, digest: string, over: Partial<PinRecord> = {}): PinRecord {
  return {
    id,
    tenant: 't1',
    requested: 'app:latest',
    reference: 'registry.local/app:latest',
    pinned: `registry.local/app@${digest}`,
    digest,
    nodeSelector: {},
    createdAt: new Date().toISOString(),
    state: 'active',
    ...over,
  };
}

describe('Kubernetes DaemonSet driver against a fake API server (no real API server here)', () => {
  const server = new FakeApiServer();
  let api: DaemonSetApi;
  const pins = { active: [] as PinRecord[], superseded: [] as PinRecord[] };
  const source = { listActive: async () => pins.active, listSuperseded: async () => pins.superseded };

  before(async () => {
    await server.start();
    api = await connectDaemonSetApi((kc) =>
      kc.loadFromOptions({
        clusters: [{ name: 'fake', server: server.url, skipTLSVerify: true }],
        users: [{ name: 'prepuller', token: 'test-token' }],
        contexts: [{ name: 'fake', cluster: 'fake', user: 'prepuller' }],
        currentContext: 'fake',
      }),
    );
  });

  after(async () => {
    await server.stop();
  });

  beforeEach(() => {
    server.requests.length = 0;
  });

  test('creates one DaemonSet per pinned digest with the exact manifest, by digest, IfNotPresent, no-op init, pause main, pin selector', async () => {
    pins.active = [pinOf('p1', OLD, { nodeSelector: { pool: 'gpu' } })];
    const driver = new KubernetesPrepullDriver(api, source, OPTS, logger);
    const report = await driver.sync();
    const name = `warmpod-prepull-${warmId({ digest: OLD, nodeSelector: { pool: 'gpu' } })}`;
    assert.deepEqual(report.created, [name]);
    assert.deepEqual(
      server.requests.map((r) => `${r.method} ${r.url}`),
      [`GET ${LIST_URL}`, `POST /apis/apps/v1/namespaces/${NS}/daemonsets`],
    );
    const post = server.requests[1]!;
    assert.equal(post.headers.authorization, 'Bearer test-token');
    assert.equal(post.headers['content-type'], 'application/json');
    const labels = { 'app.kubernetes.io/managed-by': 'warmpod-prepuller', 'warmpod.dev/prepull': name.slice('warmpod-prepull-'.length) };
    const tiny = { requests: { cpu: '1m', memory: '8Mi' }, limits: { cpu: '50m', memory: '32Mi' } };
    assert.deepEqual(post.body, {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name, namespace: NS, labels, annotations: { 'warmpod.dev/pinned': `registry.local/app@${OLD}` } },
      spec: {
        selector: { matchLabels: { 'warmpod.dev/prepull': labels['warmpod.dev/prepull'] } },
        template: {
          metadata: { labels },
          spec: {
            nodeSelector: { pool: 'gpu' },
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: 1,
            initContainers: [
              { name: 'warm', image: `registry.local/app@${OLD}`, imagePullPolicy: 'IfNotPresent', command: ['true'], resources: tiny },
            ],
            containers: [{ name: 'pause', image: PAUSE, imagePullPolicy: 'IfNotPresent', resources: tiny }],
          },
        },
      },
    });
  });

  test('a second sync only lists; a create that loses a race with another replica is not an error; status gives progress', async () => {
    const driver = new KubernetesPrepullDriver(api, source, OPTS, logger);
    const name = daemonSetFor(pins.active[0]!, OPTS).metadata.name;
    server.setStatus(name, 3, 2);
    const report = await driver.sync();
    assert.deepEqual(report.created, []);
    assert.deepEqual(report.status, [{ daemonSet: name, pinned: `registry.local/app@${OLD}`, desired: 3, ready: 2 }]);
    assert.deepEqual(
      server.requests.map((r) => r.method),
      ['GET'],
    );

    const other = pinOf('p2', NEW, { reference: 'registry.local/other:1', pinned: `registry.local/other@${NEW}` });
    server.hiddenConflicts.add(daemonSetFor(other, OPTS).metadata.name);
    pins.active = [...pins.active, other];
    assert.deepEqual((await driver.sync()).created, [], '409 AlreadyExists counts as done');
    server.hiddenConflicts.clear();
    pins.active = pins.active.slice(0, 1);
  });

  test('a superseded DaemonSet stays until the successor is ready on every node, then is deleted', async () => {
    const old = { ...pins.active[0]!, state: 'superseded' as const, supersededBy: 'p3' };
    const fresh = pinOf('p3', NEW, { nodeSelector: { pool: 'gpu' }, supersedes: 'p1' });
    pins.active = [fresh];
    pins.superseded = [old];
    const driver = new KubernetesPrepullDriver(api, source, OPTS, logger);
    const oldName = daemonSetFor(old, OPTS).metadata.name;
    const newName = daemonSetFor(fresh, OPTS).metadata.name;

    const first = await driver.sync();
    assert.deepEqual(first.created, [newName]);
    assert.deepEqual(first.kept, [oldName]);
    assert.deepEqual(server.names(), [oldName, newName].sort());

    server.setStatus(newName, 3, 2);
    assert.deepEqual((await driver.sync()).kept, [oldName], 'not ready everywhere yet');

    server.requests.length = 0;
    server.setStatus(newName, 3, 3);
    const done = await driver.sync();
    assert.deepEqual(done.deleted, [oldName]);
    assert.deepEqual(
      server.requests.map((r) => `${r.method} ${r.url}`),
      [`GET ${LIST_URL}`, `DELETE /apis/apps/v1/namespaces/${NS}/daemonsets/${oldName}?propagationPolicy=Background`],
    );
    assert.deepEqual(server.names(), [newName]);
  });

  test('DaemonSets no pin wants are deleted; a delete racing another replica is not an error', async () => {
    pins.active = [];
    pins.superseded = [];
    const driver = new KubernetesPrepullDriver(api, source, OPTS, logger);
    const [name] = server.names();
    assert.deepEqual((await driver.sync()).deleted, [name]);
    assert.deepEqual(server.names(), []);
    assert.equal(await api.remove(NS, name!), 'absent');
  });

  test('request() throttles syncs and runs one at a time', async () => {
    pins.active = [pinOf('p9', OLD)];
    const driver = new KubernetesPrepullDriver(api, source, OPTS, logger, 200);
    for (let i = 0; i < 5; i++) driver.request();
    await new Promise((r) => setTimeout(r, 100));
    driver.request();
    await new Promise((r) => setTimeout(r, 400));
    await driver.stop();
    const lists = server.requests.filter((r) => r.method === 'GET').length;
    assert.ok(lists >= 1 && lists <= 2, `${lists} syncs`);
    assert.equal(server.names().length, 1);
  });
});
