import assert from 'node:assert/strict';
import { release } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { HTTP_SAMPLE_BODY } from '@warmpod/devkit';
import { vmNodesAvailable, type VmWorkerNode } from '@warmpod/local-cluster';
import { checkpointCases, noCriuNodeCases, type CheckpointNode } from './checkpoint-cases';
import { clusterLeftovers, createPod, leftoverKeys, startCluster, waitForPod, type E2eCluster } from './support';

// One VM boot for the whole file: a local cluster with one host node and one VM node, a
// QEMU/TCG guest on Debian's 6.1 kernel (where CRIU works) running the real worker agent.

const availability = vmNodesAvailable();
const skip = availability.ok ? false : `VM node tests need root and QEMU: ${availability.reason}`;
const VM_LABEL = { 'warmpod.io/criu-node': 'vm' };
const ended = (p: { phase: string }) => ['Succeeded', 'Failed', 'Stopped', 'Lost'].includes(p.phase);

interface NodeJson {
  id: string;
  health: string;
  capabilities: Record<string, string | boolean>;
}

/**
 * GET until the pod answers or the deadline passes: Running means the container started, and
 * under TCG its server may take a moment more to listen (the node's proxy then closes the
 * connection). Fails with the last error.
 */
async function getUntilAnswered(url: string, timeoutMs: number): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`${url} did not answer within ${timeoutMs} ms: ${(error as Error).message}`, { cause: error });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('a VM node runs the real worker agent in the e2e cluster', { skip }, () => {
  let e: E2eCluster;
  let vm: VmWorkerNode;
  const timings: Record<string, number | string> = {};

  before(async () => {
    e = await startCluster({
      nodes: (tag, base) => [
        // The host node keeps the system's CRIU 3.17 here, so this suite still sees a node that cannot checkpoint.
        {
          id: 'node-1',
          cpu: 2,
          memoryMiB: 4096,
          gpu: 2,
          labels: { zone: 'a' },
          bridge: `${tag}-node-1`,
          subnet: `10.${base}.1.0/24`,
          env: { WARMPOD_CRIU_PATH: 'criu' },
        },
      ],
      // The emulated guest runs JS ~19x slower: a 3 s ready window would flap it NotReady (and Lost).
      env: { HEARTBEAT_MS: '1000', NODE_READY_WINDOW_MS: '20000' },
    });
    vm = await e.cluster.addVmNode({
      id: 'vm-1',
      labels: VM_LABEL,
      cpu: 2,
      memoryMiB: 512,
      bridge: `${e.bridgeTag}-vm-1`,
      subnet: `10.${e.subnetBase}.9.0/24`,
    });
    Object.assign(timings, vm.timings);
  });

  after(async () => {
    if (!e) return;
    const qemuPid = vm?.vm.pid;
    const stopped = Date.now();
    await e.cleanup();
    timings.clusterStopMs = Date.now() - stopped;
    timings.qemuPeakRssMiB = Math.round((vm?.vm.stats()?.peakRssKiB ?? 0) / 1024);
    console.log(`vm-node e2e timings (ms): ${JSON.stringify(timings)}`);
    assert.deepEqual(clusterLeftovers(e), [], 'stopping the cluster leaves no bridge, mount or cgroup on the host');
    assert.deepEqual(await leftoverKeys(e.prefix), []);
    if (vm) {
      assert.deepEqual(vm.leftoversAtStop, [], 'the VM agent stopped its pods and removed its bridge, netns, mounts and cgroup');
      assert.equal(vm.vm.running, false);
      assert.equal(alive(qemuPid), false, 'QEMU is gone');
    }
  });

  test('GET /v1/nodes: the VM node can checkpoint (criu check passes), the host node cannot and says why', async () => {
    const nodes = ((await (await e.api('/v1/nodes')).json()) as { items: NodeJson[] }).items;
    const vmNode = nodes.find((n) => n.id === 'vm-1');
    const hostNode = nodes.find((n) => n.id === 'node-1');
    assert.ok(vmNode && hostNode, JSON.stringify(nodes));
    assert.equal(vmNode.health, 'Ready');
    assert.equal(vmNode.capabilities['criuOk'], true, JSON.stringify(vmNode.capabilities));
    assert.match(String(vmNode.capabilities['kernel']), /^6\.1\./);
    assert.match(String(vmNode.capabilities['criuVersion']), /^\d+\.\d+/);
    assert.match(String(vmNode.capabilities['runcVersion']), /^\d+\.\d+/);
    assert.equal(hostNode.capabilities['criuOk'], false);
    assert.ok(String(hostNode.capabilities['criuReason']).length > 0, 'the host node says why it cannot checkpoint');
    const [major = 0, minor = 0] = release().split('.').map(Number);
    if (major > 6 || (major === 6 && minor >= 13)) {
      // This machine's case: Debian's CRIU 3.17 on a kernel that maps the vDSO in three parts.
      assert.match(String(hostNode.capabilities['criuReason']), /vDSO layout unsupported/);
    }
    assert.equal(vmNode.capabilities['criuReason'], '');
  });

  test('a pod sent to the VM node runs, answers at its endpoint from the host, logs through the gateway, and DELETE stops it', async () => {
    const pod = await createPod(e, {
      image: 'warmpod/http:latest',
      command: ['sh', '-c', 'echo serving from the vm node; exec httpd -f -p 8080 -h /www'],
      ports: [8080],
      nodeSelector: VM_LABEL,
    });
    const started = Date.now();
    const running = await waitForPod(e, pod.id, (p) => p.phase === 'Running' || ended(p), 180_000);
    timings.podRunningMs = Date.now() - started;
    assert.equal(running.phase, 'Running', JSON.stringify(running));
    assert.equal(running.node, 'vm-1');

    // exactly as reported: 127.0.0.1:<port> in the VM's pre-forwarded range
    assert.equal(running.endpoints.length, 1);
    const [host, port] = running.endpoints[0]!.address.split(':');
    assert.equal(host, '127.0.0.1');
    assert.ok(Number(port) >= vm.exposeRange.from && Number(port) <= vm.exposeRange.to, `${port} in ${JSON.stringify(vm.exposeRange)}`);
    const answered = Date.now();
    const res = await getUntilAnswered(`http://${running.endpoints[0]!.address}/`, 60_000);
    timings.endpointAnsweredMs = Date.now() - answered;
    assert.equal(res.status, 200);
    assert.match(await res.text(), new RegExp(HTTP_SAMPLE_BODY));

    const logs = await (await e.api(`/v1/pods/${pod.id}/logs`)).text();
    assert.match(logs, /serving from the vm node/);
    assert.deepEqual((await vm.podLeftovers(pod.id)).sort(), ['container', 'mount', 'netns']);

    const del = await e.api(`/v1/pods/${pod.id}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    const stopped = await waitForPod(e, pod.id, ended, 120_000);
    assert.equal(stopped.phase, 'Stopped');
    assert.deepEqual(stopped.endpoints, []);
    assert.deepEqual(await vm.podLeftovers(pod.id), [], 'the guest holds nothing more of the pod');
    const closed = await fetch(`http://${running.endpoints[0]!.address}/`, { signal: AbortSignal.timeout(10_000) }).then(
      (r) => r.status,
      () => 'refused',
    );
    assert.notEqual(closed, 200, 'the endpoint no longer answers');
  });

  const vmCheckpointNode = (): CheckpointNode => ({
    id: 'vm-1',
    selector: VM_LABEL,
    exposeRange: vm.exposeRange,
    corruptPages: async (checkpointId) => {
      const pages = `${vm.guestDataDir}/checkpoints/*/${checkpointId}/criu/pages-*.img`;
      await vm.vm.execOk('sh', ['-c', `for f in ${pages}; do : > "$f"; done`], { timeoutMs: 60_000 });
    },
    holdsCheckpoint: async (checkpointId) => {
      const dirs = `${vm.guestDataDir}/checkpoints/*/${checkpointId}`;
      return (await vm.vm.execOk('sh', ['-c', `ls -d ${dirs} 2>/dev/null || true`], { timeoutMs: 60_000 })).stdout.trim() !== '';
    },
    podLeftovers: (podId) => vm.podLeftovers(podId),
  });
  checkpointCases(() => ({ e, node: vmCheckpointNode() }), timings);
  noCriuNodeCases(() => ({ e, selector: { zone: 'a' } }));
});
