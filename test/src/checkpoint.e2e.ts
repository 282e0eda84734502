import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, truncate } from 'node:fs/promises';
import { release } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { criuPrefixPaths } from '@warmpod/local-cluster';
import { checkpointCases, crossRuntimeCases, type CheckpointNode } from './checkpoint-cases';
import { travelCases } from './checkpoint-travel-cases';
import { clusterLeftovers, leftoverKeys, podLeftovers, startCluster, type E2eCluster } from './support';

// Checkpoints on the host nodes `npm start` runs: CRIU >= 4.2 from the
// bootstrap's private prefix, at native speed, in the mode each agent measured.
// node-2 runs another CRIU (trixie's 4.1.1 from the tests' second prefix,
// scripts/test.sh: ensure_test_criu): another runtime on the same host, where
// node-1's checkpoints must never be restored. node-3 runs node-1's CRIU: a
// node of the same runtime, where node-1's checkpoints travel through the
// registry (checkpoint-travel-cases).

interface NodeJson {
  id: string;
  health: string;
  capabilities: Record<string, string | boolean>;
}

const NODE = 'node-1';
const OTHER_RUNTIME_NODE = 'node-2';
const SAME_RUNTIME_NODE = 'node-3';
const EXPOSE_PORTS = 16;
/** The tests' second CRIU runtime; its version exactly (scripts/criu-prefix.sh pins 4.1.1). */
const SECOND_CRIU = criuPrefixPaths(resolve(__dirname, '..', '..'), 'criu-4.1');
const SECOND_CRIU_VERSION = '4.1.1';
const secondRuntime: string | false = existsSync(SECOND_CRIU.criu)
  ? false
  : `the second CRIU runtime is not installed (${SECOND_CRIU.criu}): run \`bash -c 'source scripts/bootstrap.sh && ensure_test_criu'\``;

/** The directories of a checkpoint on a host node (one per tenant holding that id: at most one). */
async function checkpointDirs(e: E2eCluster, checkpointId: string, node = NODE): Promise<string[]> {
  const root = join(e.workDir, 'nodes', node, 'checkpoints');
  const tenants = await readdir(root).catch((): string[] => []);
  const found: string[] = [];
  for (const tenant of tenants) {
    if ((await readdir(join(root, tenant)).catch((): string[] => [])).includes(checkpointId)) found.push(join(root, tenant, checkpointId));
  }
  return found;
}

function versionAtLeast(version: string, min: readonly number[]): boolean {
  const parts = version.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < min.length; i++) if ((parts[i] ?? 0) !== min[i]) return (parts[i] ?? 0) > min[i]!;
  return true;
}

/** node-2's own criu and its own measured-mode cache (a cache file holds one criu's mode). */
const secondRuntimeEnv: Record<string, string> = secondRuntime
  ? {}
  : { WARMPOD_CRIU_PATH: SECOND_CRIU.criu, CRIU_CAPABILITY_CACHE: SECOND_CRIU.capabilityCache };

describe('checkpoints on the host nodes of the local cluster', () => {
  let e: E2eCluster;
  let exposeRange = { from: 0, to: 0 };
  const timings: Record<string, number | string> = {};

  before(async () => {
    // Ports of node-1 from a range, so the cases can watch every one for an answer before the checkpoint.
    const from = 31_000 + Math.floor(Math.random() * 1_000) * EXPOSE_PORTS;
    exposeRange = { from, to: from + EXPOSE_PORTS - 1 };
    e = await startCluster({
      nodes: (tag, base) => [
        {
          id: NODE,
          cpu: 2,
          memoryMiB: 4096,
          gpu: 0,
          labels: { zone: 'a' },
          bridge: `${tag}-${NODE}`,
          subnet: `10.${base}.1.0/24`,
          env: { EXPOSE_PORT_RANGE: `${exposeRange.from}-${exposeRange.to}` },
        },
        {
          id: OTHER_RUNTIME_NODE,
          cpu: 2,
          memoryMiB: 4096,
          gpu: 0,
          labels: { zone: 'b' },
          bridge: `${tag}-${OTHER_RUNTIME_NODE}`,
          subnet: `10.${base}.2.0/24`,
          env: secondRuntimeEnv,
        },
        {
          id: SAME_RUNTIME_NODE,
          cpu: 2,
          memoryMiB: 4096,
          gpu: 0,
          labels: { zone: 'c' },
          bridge: `${tag}-${SAME_RUNTIME_NODE}`,
          subnet: `10.${base}.3.0/24`,
        },
      ],
    });
  });

  after(async () => {
    if (!e) return;
    await e.cleanup();
    console.log(`host checkpoint e2e timings (ms): ${JSON.stringify(timings)}`);
    assert.deepEqual(clusterLeftovers(e), [], 'stopping the cluster leaves no bridge, mount or cgroup on the host');
    assert.deepEqual(await leftoverKeys(e.prefix), []);
  });

  test('GET /v1/nodes: both host nodes can checkpoint, node-1 with CRIU >= 4.2, node-2 with the second runtime, in the mode they measured', async () => {
    const nodes = ((await (await e.api('/v1/nodes')).json()) as { items: NodeJson[] }).items;
    assert.equal(nodes.length, 3, JSON.stringify(nodes));
    for (const node of nodes) {
      const caps = node.capabilities;
      assert.equal(caps['criuOk'], true, `${node.id}: ${String(caps['criuReason'])}`);
      assert.equal(caps['criuReason'], '');
      assert.match(String(caps['criuMode']), /^(breakpoints|no-breakpoints)$/);
      assert.equal(caps['kernel'], release());
    }
    const caps = (id: string) => nodes.find((n) => n.id === id)?.capabilities ?? {};
    const version = (id: string) => String(caps(id)['criuVersion']);
    assert.ok(versionAtLeast(version(NODE), [4, 2]), `${NODE} runs CRIU ${version(NODE)}`);
    assert.equal(version(SAME_RUNTIME_NODE), version(NODE), `${SAME_RUNTIME_NODE} runs ${NODE}'s CRIU`);
    if (secondRuntime) assert.ok(versionAtLeast(version(OTHER_RUNTIME_NODE), [4, 2]));
    else assert.equal(version(OTHER_RUNTIME_NODE), SECOND_CRIU_VERSION, 'node-2 runs the second runtime');
    timings.criuMode = String(caps(NODE)['criuMode']);
    timings.otherRuntime = `CRIU ${version(OTHER_RUNTIME_NODE)}, ${String(caps(OTHER_RUNTIME_NODE)['criuMode'])}`;
  });

  const hostNode: CheckpointNode = {
    id: NODE,
    selector: { zone: 'a' },
    get exposeRange() {
      return exposeRange;
    },
    corruptPages: async (checkpointId) => {
      const [dir] = await checkpointDirs(e, checkpointId);
      assert.ok(dir, `checkpoint ${checkpointId} is on ${NODE}`);
      const pages = (await readdir(join(dir, 'criu'))).filter((f) => /^pages-\d+\.img$/.test(f));
      assert.ok(pages.length > 0, 'the checkpoint has page images');
      await Promise.all(pages.map((f) => truncate(join(dir, 'criu', f), 0)));
    },
    holdsCheckpoint: async (checkpointId) => (await checkpointDirs(e, checkpointId)).length > 0,
    podLeftovers: (podId) => Promise.resolve(podLeftovers(e, NODE, podId)),
  };
  checkpointCases(() => ({ e, node: hostNode }), timings);
  crossRuntimeCases(() => ({ e, from: hostNode, to: { id: OTHER_RUNTIME_NODE, selector: { zone: 'b' } } }), timings, secondRuntime);
  const sameRuntimeNode = {
    id: SAME_RUNTIME_NODE,
    selector: { zone: 'c' },
    holdsCheckpoint: async (checkpointId: string) => (await checkpointDirs(e, checkpointId, SAME_RUNTIME_NODE)).length > 0,
  };
  travelCases(() => ({ e, from: hostNode, to: sameRuntimeNode }), timings);
});
