import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { z } from 'zod';
import type { K8sObject } from './helm';
import { useRenderedValues } from './testing/rendered-values';
import { secretValues, workloadsOf, type Workload } from './wiring';

/** Cluster TLS in the chart: every app finds its CA bundle, certificate and key where its WARMPOD_TLS_* point. */
const rendered = useRenderedValues(['external-redis-values.yaml', 'existing-secrets-values.yaml']);
const FILES = ['WARMPOD_TLS_CA_FILE', 'WARMPOD_TLS_CERT_FILE', 'WARMPOD_TLS_KEY_FILE'] as const;

const workloadVolumes = z
  .object({
    kind: z.string(),
    metadata: z.object({ labels: z.record(z.string(), z.string()).default({}) }).passthrough(),
    spec: z
      .object({
        template: z.object({
          spec: z
            .object({
              volumes: z
                .array(z.object({ name: z.string(), hostPath: z.object({ path: z.string() }).passthrough().optional() }).passthrough())
                .default([]),
            })
            .passthrough(),
        }),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();

/** Host path volumes of a component's workload: volume name -> host path. */
function hostPaths(component: string, objects: readonly K8sObject[]): Map<string, string> {
  const workload = objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
    .map((o) => workloadVolumes.parse(o))
    .find((o) => o.metadata.labels['app.kubernetes.io/component'] === component);
  return new Map((workload?.spec?.template.spec.volumes ?? []).flatMap((v) => (v.hostPath ? [[v.name, v.hostPath.path] as const] : [])));
}

/** Where each TLS variable of a container points: the Secret item (name/key) or the host path behind it. */
function tlsSources(w: Workload, objects: readonly K8sObject[]): Record<string, string> {
  const hosts = hostPaths(w.component, objects);
  const out: Record<string, string> = {};
  for (const name of FILES) {
    const value = w.container.env.find((e) => e.name === name)?.value;
    assert.ok(value, `${w.component}: ${name} is not set`);
    const secret = w.secretFiles.find((f) => value === join(f.mountPath, f.path));
    if (secret) {
      out[name] = `secret ${secret.secret}/${secret.key}`;
      continue;
    }
    const mount = w.container.volumeMounts.find((m) => value.startsWith(`${m.mountPath}/`));
    const host = mount && hosts.get(mount.name);
    assert.ok(mount && host, `${w.component}: ${name}=${value} is under no Secret item or host path mount`);
    out[name] = `host ${join(host, value.slice(mount.mountPath.length))}`;
  }
  return out;
}

describe('cluster TLS material is mounted where the apps expect it', () => {
  test('generated: scheduler and gateway read the chart-made Secrets; the agent its host PKI directory', () => {
    const objects = rendered.get('external-redis-values.yaml')!;
    const byComponent = new Map(workloadsOf(objects).map((w) => [w.component, w]));
    assert.deepEqual(tlsSources(byComponent.get('scheduler')!, objects), {
      WARMPOD_TLS_CA_FILE: 'secret wp-warmpod-scheduler-tls/ca.crt',
      WARMPOD_TLS_CERT_FILE: 'secret wp-warmpod-scheduler-tls/tls.crt',
      WARMPOD_TLS_KEY_FILE: 'secret wp-warmpod-scheduler-tls/tls.key',
    });
    assert.deepEqual(tlsSources(byComponent.get('gateway')!, objects), {
      WARMPOD_TLS_CA_FILE: 'secret wp-warmpod-gateway-tls/ca.crt',
      WARMPOD_TLS_CERT_FILE: 'secret wp-warmpod-gateway-tls/tls.crt',
      WARMPOD_TLS_KEY_FILE: 'secret wp-warmpod-gateway-tls/tls.key',
    });
    assert.deepEqual(tlsSources(byComponent.get('agent')!, objects), {
      WARMPOD_TLS_CA_FILE: 'host /etc/warmpod/pki/ca.crt',
      WARMPOD_TLS_CERT_FILE: 'host /etc/warmpod/pki/tls.crt',
      WARMPOD_TLS_KEY_FILE: 'host /etc/warmpod/pki/tls.key',
    });
    assert.equal(
      byComponent.get('prepuller')!.container.env.find((e) => e.name.startsWith('WARMPOD_TLS_')),
      undefined,
    );
  });

  test('generated certificates name their service and chain to the generated CA the agents trust', () => {
    const objects = rendered.get('external-redis-values.yaml')!;
    const secrets = secretValues(objects);
    const ca = new X509Certificate(secrets.get('wp-warmpod-cluster-ca/tls.crt')!);
    assert.ok(ca.ca, 'the cluster CA is a CA');
    for (const service of ['scheduler', 'gateway']) {
      const cert = new X509Certificate(secrets.get(`wp-warmpod-${service}-tls/tls.crt`)!);
      assert.match(cert.subject, new RegExp(`^CN=service:${service}$`, 'm'));
      assert.ok(cert.verify(ca.publicKey), `${service}: signed by the cluster CA`);
      assert.equal(secrets.get(`wp-warmpod-${service}-tls/ca.crt`), secrets.get('wp-warmpod-cluster-ca/tls.crt'));
      assert.ok(secrets.get(`wp-warmpod-${service}-tls/tls.key`)?.includes('PRIVATE KEY'));
    }
  });

  test("operator's Secrets (cert-manager): mounted by name, nothing generated", () => {
    const objects = rendered.get('existing-secrets-values.yaml')!;
    const scheduler = workloadsOf(objects).find((w) => w.component === 'scheduler')!;
    assert.equal(tlsSources(scheduler, objects)['WARMPOD_TLS_CERT_FILE'], 'secret warmpod-scheduler-tls/tls.crt');
    const gateway = workloadsOf(objects).find((w) => w.component === 'gateway')!;
    assert.equal(tlsSources(gateway, objects)['WARMPOD_TLS_KEY_FILE'], 'secret warmpod-gateway-tls/tls.key');
    assert.deepEqual(
      objects.filter((o) => o.kind === 'Secret' && /-(tls|cluster-ca)$/.test(o.metadata.name)).map((o) => o.metadata.name),
      [],
    );
  });

  test('agent probes speak HTTPS (the agent serves only TLS)', () => {
    const agent = workloadsOf(rendered.get('external-redis-values.yaml')!).find((w) => w.component === 'agent')!;
    for (const probe of [agent.container.startupProbe, agent.container.livenessProbe]) {
      assert.equal(probe?.httpGet && Reflect.get(probe.httpGet, 'scheme'), 'HTTPS');
    }
  });
});
