import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, credentials, status as Status } from '@grpc/grpc-js';
import { ClusterTls, expectServer, readTlsMaterial, type TlsPaths } from '@warmpod/observability';
import { NodeRepository, NodeSessions, PodRepository } from '@warmpod/store';
import { ClusterPki, type IssuedCert } from '@warmpod/devkit';
import type { NodeReportOut } from './messages';
import { NodeRegistryClient } from './node-registry-client';
import { NodeRegistryServer } from './registry-server';
import type { CallerRefusal } from './registry-tls';
import { connect, eventually, isStatus, register, registration, RegistryFixture, silent } from './testing/int-fixture';

/** Real TLS: certificates from a real (openssl) cluster CA, a real gRPC server over them, Redis behind it. */
let fx: RegistryFixture;
let dir: string;
let ca: ClusterPki;
let otherCa: ClusterPki;
let schedulerCert: IssuedCert;

before(async () => {
  fx = new RegistryFixture();
  dir = await mkdtemp(join(tmpdir(), 'warmpod-registry-tls-'));
  [ca, otherCa] = await Promise.all([ClusterPki.open(join(dir, 'ca')), ClusterPki.open(join(dir, 'other-ca'), 'another CA')]);
  schedulerCert = await ca.issue('service:scheduler');
});

after(async () => {
  await fx.cleanup();
  await rm(dir, { recursive: true, force: true });
});

const PAUSE_MS = 100;

async function tlsOf(paths: TlsPaths): Promise<ClusterTls> {
  const tls = await ClusterTls.load(paths, { reloadMs: PAUSE_MS, logger: silent });
  fx.onCleanup(() => tls.close());
  return tls;
}

interface TlsScope {
  server: NodeRegistryServer;
  tls: ClusterTls;
  nodes: NodeRepository;
  refused: CallerRefusal[];
  target: string;
}

async function tlsServer(prefix: string, paths: TlsPaths, port = 0): Promise<TlsScope> {
  const refused: CallerRefusal[] = [];
  const tls = await tlsOf(paths);
  const server = new NodeRegistryServer({
    store: new NodeSessions(fx.redis, prefix),
    pods: new PodRepository(fx.redis, prefix),
    logger: silent,
    heartbeatIntervalMs: 60_000,
    tls,
    onRefused: (reason) => refused.push(reason),
  });
  await server.listen('127.0.0.1', port);
  fx.onCleanup(() => server.close(200));
  return { server, tls, nodes: new NodeRepository(fx.redis, prefix), refused, target: `127.0.0.1:${server.port}` };
}

/** A raw gRPC client presenting `cert` (or none), trusting the cluster CA and expecting the scheduler. */
async function rawClient(target: string, cert?: IssuedCert): Promise<Client> {
  const creds = credentials.createSsl(
    await readFile(ca.caFile),
    cert ? await readFile(cert.keyFile) : null,
    cert ? await readFile(cert.certFile) : null,
    { checkServerIdentity: expectServer({ kind: 'service', name: 'scheduler' }) },
  );
  const client = new Client(target, creds, { 'grpc.ssl_target_name_override': 'scheduler' });
  fx.onCleanup(() => client.close());
  return client;
}

function agent(target: string, nodeId: string, tls: ClusterTls): NodeRegistryClient {
  const client = new NodeRegistryClient({
    target,
    registration: registration(nodeId),
    inventory: async () => ({ images: [], runningPods: [], checkpoints: [], usage: { cpu: 0, memoryMiB: 0, gpu: 0 } }),
    onStopPods: async () => undefined,
    logger: silent,
    backoff: { initialMs: 50, maxMs: 400 },
    tls,
  });
  fx.onCleanup(() => client.stop());
  return client;
}

describe('node registry over mutual TLS', () => {
  test('an agent with a certificate naming its node registers and streams', async () => {
    const s = await tlsServer(`${fx.filePrefix}valid:`, schedulerCert);
    const client = agent(s.target, 'node-a', await tlsOf(await ca.issue('node:node-a')));
    await client.start();
    const node = await s.nodes.get('node-a');
    assert.equal(node?.sessionId, client.sessionId);
    assert.deepEqual(s.server.connectedNodes, ['node-a']);
    assert.deepEqual(s.refused, []);
  });

  test('no certificate, an expired one, one from another CA, or one naming another node: refused, logged, counted, nothing stored', async () => {
    const s = await tlsServer(`${fx.filePrefix}refused:`, schedulerCert);
    const day = 86_400_000;
    const expired = await ca.issue('node:node-a', {
      name: 'node-a-expired',
      notBefore: new Date(Date.now() - 10 * day),
      notAfter: new Date(Date.now() - day),
    });
    const foreign = await otherCa.issue('node:node-a');
    const nodeB = await ca.issue('node:node-b');
    const gateway = await ca.issue('service:gateway');
    const unauthenticated = isStatus(Status.UNAUTHENTICATED, /client certificate issued by the cluster CA is required/);

    await assert.rejects(register(await rawClient(s.target), registration('node-a')), unauthenticated);
    await assert.rejects(register(await rawClient(s.target, expired), registration('node-a')), unauthenticated);
    await assert.rejects(register(await rawClient(s.target, foreign), registration('node-a')), unauthenticated);
    await assert.rejects(
      register(await rawClient(s.target, nodeB), registration('node-a')),
      isStatus(Status.PERMISSION_DENIED, /names node node-b; it cannot speak for node node-a/),
    );
    await assert.rejects(
      register(await rawClient(s.target, gateway), registration('node-a')),
      isStatus(Status.PERMISSION_DENIED, /names service:gateway, not a node/),
    );

    // node-b registers itself, then tries to report as node-a on its stream.
    const asB = await rawClient(s.target, nodeB);
    const { sessionId } = await register(asB, registration('node-b'));
    const stream = connect(asB);
    stream.call.write({
      nodeId: 'node-a',
      sessionId,
      inventory: { images: [], runningPods: [], checkpoints: [], usage: null },
    } satisfies NodeReportOut);
    const status = await stream.status;
    assert.equal(status.code, Status.PERMISSION_DENIED);
    assert.match(status.details, /cannot speak for node node-a/);
    // A stream without a certificate is ended at once.
    const anonymous = connect(await rawClient(s.target));
    assert.equal((await anonymous.status).code, Status.UNAUTHENTICATED);

    assert.deepEqual(s.refused, [
      'unauthenticated',
      'unauthenticated',
      'unauthenticated',
      'other-node',
      'not-a-node',
      'other-node',
      'unauthenticated',
    ]);
    assert.equal(await s.nodes.get('node-a'), undefined);
  });

  test('a rotated certificate (from a new CA, the registry trusting both) keeps the node registered', async () => {
    // The scheduler's CA bundle and the agent's files are copies this test rewrites, as a Secret update would.
    const serverPaths = { ...schedulerCert, caFile: join(dir, 'server-bundle.crt') };
    await copyFile(ca.caFile, serverPaths.caFile);
    const s = await tlsServer(`${fx.filePrefix}rotate:`, serverPaths);
    const first = await ca.issue('node:node-r');
    // The agent keeps trusting the scheduler's CA (its server certificate does not change here).
    const agentPaths = { caFile: ca.caFile, certFile: join(dir, 'agent.crt'), keyFile: join(dir, 'agent.key') };
    await installCert(first, agentPaths);
    const agentTls = await tlsOf(agentPaths);
    const client = agent(s.target, 'node-r', agentTls);
    await client.start();
    const firstSession = client.sessionId;
    assert.ok(firstSession);

    // Overlap: the registry trusts the old and the new CA; then the agent gets a certificate of the new one.
    const bundle = `${await ca.caPem()}${await otherCa.caPem()}`;
    await writeFile(serverPaths.caFile, bundle);
    await eventually(
      'the registry took the CA bundle',
      async () => s.tls.current.ca.toString(),
      (ca) => ca === bundle,
    );
    const rotatedCert = await otherCa.issue('node:node-r', { name: 'node-r-rotated' });
    const rotatedFingerprint = (await readTlsMaterial({ ...rotatedCert, caFile: ca.caFile })).fingerprint;
    await installCert(rotatedCert, agentPaths);
    const rotated = await eventually(
      'a new session with the rotated certificate',
      async () => ({ cert: agentTls.current.fingerprint, client: client.sessionId, stored: (await s.nodes.get('node-r'))?.sessionId }),
      (v) => v.cert === rotatedFingerprint && v.client !== undefined && v.client !== firstSession && v.stored === v.client,
    );

    // The old CA leaves the bundle; a restarted registry still takes the node, so it presents the new certificate.
    await writeFile(serverPaths.caFile, await otherCa.caPem());
    const port = s.server.port;
    await s.server.close(200);
    const again = await tlsServer(`${fx.filePrefix}rotate:`, serverPaths, port);
    await eventually(
      'the node registered again after the old CA left',
      async () => ({ client: client.sessionId, stored: (await again.nodes.get('node-r'))?.sessionId }),
      (v) => v.client !== undefined && v.client !== rotated.client && v.stored === v.client,
    );
    assert.deepEqual([...s.refused, ...again.refused], []);
  });
});

/** Key first, then the certificate (a reader may see the new key with the old certificate, and must wait). */
async function installCert(from: IssuedCert, to: Pick<TlsPaths, 'certFile' | 'keyFile'>): Promise<void> {
  await copyFile(from.keyFile, to.keyFile);
  await copyFile(from.certFile, to.certFile);
}
