import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ClusterTls, clusterGet, createLogger, readTlsMaterial, type TlsMaterial } from '@warmpod/observability';
import { ClusterPki, type IssuedCert } from '@warmpod/devkit';
import { AgentHttp } from './agent-http';

/** The agent API over real TLS: certificates from an openssl CA, the gateway's own client (`clusterGet`). */
const logger = createLogger({ service: 'agent-http-int', level: 'silent' });
const POD = 'pod-aaaaaaaaaaaaaaaaaaaa';
let dir: string;
let ca: ClusterPki;
let http: AgentHttp;
let tls: ClusterTls;
let base: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warmpod-agent-https-'));
  await writeFile(join(dir, `${POD}.log`), 'one\ntwo\nthree\n');
  ca = await ClusterPki.open(join(dir, 'ca'));
  tls = await ClusterTls.load(await ca.issue('node:node-1'), { reloadMs: 60_000, logger });
  http = new AgentHttp((podId) => join(dir, `${podId}.log`), { ok: () => true }, undefined, undefined, tls);
  base = await http.listen('127.0.0.1', 0);
});

after(async () => {
  await http.close();
  tls.close();
  await rm(dir, { recursive: true, force: true });
});

const material = async (cert: IssuedCert): Promise<TlsMaterial> => readTlsMaterial(cert);
const node1 = { kind: 'node', name: 'node-1' } as const;

/** A request trusting the cluster CA, presenting `cert` or none. */
async function get(path: string, cert?: IssuedCert): Promise<number> {
  const ca_ = await readFile(ca.caFile);
  const own = cert ? { cert: await readFile(cert.certFile), key: await readFile(cert.keyFile) } : {};
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { ca: ca_, ...own, agent: false, checkServerIdentity: () => undefined }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('agent API over mutual TLS', () => {
  test('serves HTTPS with the node certificate; a log request without credentials is refused, with the gateway one it works', async () => {
    assert.match(base, /^https:\/\//);
    const logs = `/pods/${POD}/logs?tail=1`;
    assert.equal(await get(logs), 401);
    const gateway = await ca.issue('service:gateway');
    const answer = await clusterGet(`${base}${logs}`, await material(gateway), node1, 5_000);
    assert.deepEqual([answer.status, answer.body], [200, 'three\n']);
    assert.equal((await clusterGet(`${base}${logs}`, await material(await ca.issue('operator:alice')), node1, 5_000)).status, 200);
  });

  test('another node, the scheduler or a gateway certificate of another CA are refused; probes stay open', async () => {
    const logs = `/pods/${POD}/logs`;
    assert.equal(await get(logs, await ca.issue('node:node-2')), 403);
    assert.equal(await get(logs, await ca.issue('service:scheduler')), 403);
    const other = await ClusterPki.open(join(dir, 'other-ca'), 'another CA');
    assert.equal(await get(logs, await other.issue('service:gateway')), 401);
    assert.equal(await get('/healthz'), 200);
    assert.equal(await get('/readyz'), 200);
  });

  test('the gateway checks who answers: an agent that is not the pod node is not believed', async () => {
    const gateway = await material(await ca.issue('service:gateway'));
    await assert.rejects(
      clusterGet(`${base}/pods/${POD}/logs`, gateway, { kind: 'node', name: 'node-2' }, 5_000),
      /names node:node-1, not node:node-2/,
    );
  });
});
