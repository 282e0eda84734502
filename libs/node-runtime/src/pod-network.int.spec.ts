import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCommand } from './command';
import { exists } from './files';
import { Cleanup, needsRoot, tempDir, testLogger, uniqueTestNames } from './testing/int-fixture';
import { PodNetwork } from './pod-network';

const names = uniqueTestNames();
const logger = testLogger();
const cleanup = new Cleanup();
const SYSTEM_CNI = '/usr/lib/cni';
let dir: string;
let network: PodNetwork;

/** Interfaces in the pod's netns, by name. */
async function links(network: PodNetwork, podId: string): Promise<string[]> {
  const { stdout } = await runCommand('ip', ['-n', network.netnsName(podId), '-o', 'link', 'show']);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':')[1]!.trim().split('@')[0]!);
}

async function addresses(): Promise<string[]> {
  return (await readdir(join(dir, 'net', 'ipam', network.networkName)).catch(() => [])).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
}

before(async () => {
  if (needsRoot) return;
  dir = await tempDir('wp-netns-int');
  cleanup.add('dir', () => rm(dir, { recursive: true, force: true }));
  network = new PodNetwork({ nodeId: names.nodeId, bridge: names.bridge, subnet: names.subnet, dataDir: join(dir, 'net'), logger });
  cleanup.add('network', () => network.destroy());
});

after(() => cleanup.run());

test('a namespace made apart holds only its loopback, up; connect adds eth0 and an address', { skip: needsRoot }, async () => {
  const podId = `split-${names.suffix}`;
  const { netnsPath } = await network.createNamespace(podId);
  assert.equal(netnsPath, network.netnsPath(podId));
  assert.deepEqual(await links(network, podId), ['lo']);
  assert.deepEqual(await addresses(), [], 'no address before connect');
  const attached = await network.connect(podId);
  assert.deepEqual((await links(network, podId)).sort(), ['eth0', 'lo']);
  assert.deepEqual(await addresses(), [attached.ip]);
  await network.detach(podId);
  assert.equal(await exists(netnsPath), false);
  assert.deepEqual(await addresses(), []);
});

test('a connect that fails after its address was taken releases it; the namespace goes with detach', { skip: needsRoot }, async () => {
  // A bridge plugin that does the real ADD, then reports a failure (as one failing after IPAM would).
  const failing = join(dir, 'failing-cni');
  await mkdir(failing);
  await symlink(join(SYSTEM_CNI, 'host-local'), join(failing, 'host-local'));
  const script = `#!/bin/sh\nif [ "$CNI_COMMAND" = ADD ]; then ${SYSTEM_CNI}/bridge >/dev/null; echo '{"msg":"injected failure"}'; exit 1; fi\nexec ${SYSTEM_CNI}/bridge\n`;
  await writeFile(join(failing, 'bridge'), script);
  await chmod(join(failing, 'bridge'), 0o755);
  const broken = new PodNetwork({
    nodeId: names.nodeId,
    bridge: names.bridge,
    subnet: names.subnet,
    dataDir: join(dir, 'net'),
    cniPath: failing,
    logger,
  });
  const podId = `fail-${names.suffix}`;
  await broken.createNamespace(podId);
  await assert.rejects(broken.connect(podId), /injected failure/);
  assert.deepEqual(await addresses(), [], 'the address is released');
  assert.deepEqual(await links(network, podId), ['lo'], 'no eth0 left in the namespace');
  assert.ok(await exists(network.netnsPath(podId)), 'the namespace stays for detach');
  await network.detach(podId);
  assert.equal(await exists(network.netnsPath(podId)), false);
  assert.equal(
    (await network.listAttached()).some((a) => a.podId === podId),
    false,
  );
});

test('attach still leaves nothing behind when CNI fails', { skip: needsRoot }, async () => {
  const broken = new PodNetwork({
    nodeId: names.nodeId,
    bridge: names.bridge,
    subnet: names.subnet,
    dataDir: join(dir, 'net'),
    cniPath: join(dir, 'no-such-cni'),
    logger,
  });
  const podId = `nocni-${names.suffix}`;
  await assert.rejects(broken.attach(podId), /attach pod network/);
  assert.equal(await exists(network.netnsPath(podId)), false);
  assert.deepEqual(await addresses(), []);
});
