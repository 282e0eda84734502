import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { modelTypeOf, typeMapsOf, unknownFields, validateObject, type TypeMaps } from './k8s-fields';

let maps: TypeMaps;
before(async () => {
  maps = typeMapsOf(await import('@kubernetes/client-node'));
});

const deployment = (container: Record<string, unknown>, replicas: unknown = 2) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'x@sha256:' + 'a'.repeat(64), ...container }] },
    },
  },
});

describe('validateObject', () => {
  test('a correct Deployment has no problems', () => {
    assert.deepEqual(validateObject(deployment({ ports: [{ name: 'http', containerPort: 8080 }] }), maps), []);
  });

  test('an unknown field is reported with its path', () => {
    assert.deepEqual(validateObject(deployment({ imagePullPolice: 'Always' }), maps), [
      'Deployment/web.spec.template.spec.containers[0].imagePullPolice: unknown field (V1Container has no "imagePullPolice")',
    ]);
  });

  test('wrong types are reported by the models', () => {
    const problems = validateObject(deployment({ ports: [{ containerPort: 'http' }] }, 'three'), maps);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /spec\/replicas must be integer.*containerPort must be integer/);
  });

  test('a kind the check does not know is a problem, not a pass', () => {
    assert.match(
      validateObject({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c' } }, maps)[0]!,
      /not a kind this check knows/,
    );
  });

  test('a ServiceMonitor is checked strictly', () => {
    const sm = {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: 'm' },
      spec: { selector: { matchLabels: { a: 'b' } }, endpoints: [{ port: 'http', path: '/metrics', interval: '30s', scheme: 'http' }] },
    };
    assert.match(validateObject(sm, maps).join('\n'), /spec\.endpoints\.0: Unrecognized key: "scheme"/);
  });
});

describe('unknownFields', () => {
  test('walks arrays and maps of models', () => {
    const volumes = [{ name: 'v', hostPath: { path: '/x', typo: 1 } }];
    assert.deepEqual(unknownFields(volumes, 'Array<V1Volume>', maps, 'vols'), [
      'vols[0].hostPath.typo: unknown field (V1HostPathVolumeSource has no "typo")',
    ]);
    assert.deepEqual(unknownFields({ a: 'b' }, '{ [key: string]: string; }', maps, 'labels'), []);
  });

  test('model names follow the apiVersion', () => {
    assert.equal(modelTypeOf({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'p' } }), 'V1PodDisruptionBudget');
  });
});
