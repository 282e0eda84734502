import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HTTP_SAMPLE_BODY } from '@warmpod/devkit';
import {
  agentGet,
  createPod,
  podLeftovers,
  startCluster,
  stopClusterLeavingNothing,
  waitForPod,
  type E2eCluster,
  type PodJson,
} from './support';

/**
 * An agent restart loses no pod (issue #12): node-1's agent is SIGKILLed
 * under running pods (cold, warm-pool and, when the node can checkpoint,
 * restored), the launcher's supervisor starts it again, and the new agent
 * adopts them: same container (pid), endpoints answering, logs continuing,
 * `restarts` unchanged, Running. Then the pods are deleted and the cluster
 * stop finds nothing left on any node.
 */

const NODE = 'node-1';
/** Serves the sample page on 8080 (busybox httpd forks into the background) and ticks in its log. */
const TICKER = ['sh', '-c', 'httpd -p 8080 -h /www; i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done'];
const ON_NODE_1 = { zone: 'a' };
const POOL = 'restart-pool';

interface NodeJson {
  id: string;
  health: string;
  capabilities: Record<string, string | boolean>;
}

interface PoolJson {
  ready: number;
}

function pidsOn(e: E2eCluster, node: string): Map<string, number> {
  const out = execFileSync('runc', ['--root', join(e.workDir, 'nodes', node, 'runc'), 'list', '--format', 'json'], { encoding: 'utf8' });
  const list = (JSON.parse(out || 'null') as Array<{ id: string; pid: number }> | null) ?? [];
  return new Map(list.map((c) => [c.id, c.pid]));
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function node(e: E2eCluster, id: string): Promise<NodeJson | undefined> {
  return ((await (await e.api('/v1/nodes')).json()) as { items: NodeJson[] }).items.find((n) => n.id === id);
}

/** The agent URL of every start of the node's agent that reached "node ready", in order (from its log). */
function readyAgents(e: E2eCluster): string[] {
  const log = readFileSync(join(e.workDir, 'logs', `${NODE}.log`), 'utf8');
  return [...log.matchAll(/"agentUrl":"([^"]+)"[^\n]*"msg":"node ready"/g)].map((m) => m[1]!);
}

async function answers(pod: PodJson): Promise<boolean> {
  const res = await fetch(`http://${pod.endpoints[0]!.address}/`, { signal: AbortSignal.timeout(5_000) });
  return res.ok && (await res.text()).includes(HTTP_SAMPLE_BODY);
}

async function logs(e: E2eCluster, id: string): Promise<string> {
  const res = await e.api(`/v1/pods/${id}/logs?tail=10000`);
  assert.equal(res.status, 200, `logs of ${id}`);
  return res.text();
}

function lastTick(text: string): number {
  const ticks = [...text.matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1]));
  return ticks.length > 0 ? Math.max(...ticks) : -1;
}

describe('an agent restart loses no pod', () => {
  let e: E2eCluster;

  before(async () => {
    // The window outlasts an agent restart (its `criu check`, Redis, adoption), as a rollout's must.
    e = await startCluster({ env: { NODE_READY_WINDOW_MS: '30000' } });
  });

  after(() => stopClusterLeavingNothing(e, { nodesChecked: true }));

  test('SIGKILL of the agent under cold, warm-pool (and restored) pods: same containers, endpoints, logs; nothing left after', async () => {
    const cold = await createPod(e, { image: 'warmpod/http:latest', command: TICKER, ports: [8080], nodeSelector: ON_NODE_1 });
    const poolRes = await e.api('/v1/pools', {
      method: 'POST',
      body: JSON.stringify({
        name: POOL,
        image: 'warmpod/http:latest',
        size: 1,
        podTemplate: { command: TICKER, ports: [8080], resources: { cpu: 0.1, memoryMiB: 32 } },
        nodeSelector: ON_NODE_1,
      }),
    });
    assert.equal(poolRes.status, 201, await poolRes.clone().text());
    await waitFor('the pool to be full', async () => {
      const pool = (await (await e.api(`/v1/pools/${POOL}`)).json()) as PoolJson;
      return pool.ready === 1 ? true : undefined;
    });
    const claim = await e.api('/v1/pods', { method: 'POST', body: JSON.stringify({ image: 'warmpod/http:latest', pool: POOL }) });
    const warm = (await claim.json()) as PodJson;
    assert.equal(warm.startMode, 'warm-pool', JSON.stringify(warm));

    const ids = [cold.id, warm.id];
    const restored = await restoredPodIfCapable(e);
    if (restored) ids.push(restored);
    const before = new Map<string, PodJson>();
    for (const id of ids) before.set(id, await waitForPod(e, id, (p) => p.phase === 'Running' && p.node === NODE, 60_000));
    for (const pod of before.values()) await waitFor(`${pod.id} to answer`, async () => ((await answers(pod)) ? true : undefined));
    const pidsBefore = pidsOn(e, NODE);
    const ticksBefore = new Map<string, number>();
    for (const id of ids) ticksBefore.set(id, lastTick(await logs(e, id)));

    const agentPid = e.cluster.servicePid(NODE);
    process.kill(agentPid!, 'SIGKILL');
    // The supervisor starts it again; the new agent adopts, registers and reports Ready.
    await waitFor('a new agent process', async () => {
      const pid = e.cluster.servicePid(NODE);
      return pid !== undefined && pid !== agentPid ? pid : undefined;
    });
    // It adopts before it registers: once it says it is ready (and its /readyz agrees), its pods must be whole.
    const agentUrl = await waitFor('the restarted agent to be ready', async () => readyAgents(e)[1]);
    const readyz = await agentGet(e, NODE, `${agentUrl}/readyz`);
    assert.equal(readyz.status, 200, await readyz.clone().text());
    assert.deepEqual(await readyz.json(), { ready: true, checks: { registered: true, redis: true, jobs: true } });
    assert.equal((await node(e, NODE))?.health, 'Ready');

    const pidsAfter = pidsOn(e, NODE);
    for (const id of ids) {
      const pod = (await (await e.api(`/v1/pods/${id}`)).json()) as PodJson;
      const was = before.get(id)!;
      assert.equal(pod.phase, 'Running', `${id} is still Running`);
      assert.equal(pod.node, NODE);
      assert.equal(pod.restarts ?? 0, was.restarts ?? 0, 'restarts unchanged');
      assert.equal(pod.startMode, was.startMode);
      assert.deepEqual(pod.endpoints, was.endpoints, 'same endpoints');
      assert.equal(pidsAfter.get(id), pidsBefore.get(id), `${id} runs in the same container`);
      assert.ok(await answers(pod), `${id}'s endpoint answers after the restart`);
      const text = await waitFor(`${id}'s log to continue`, async () => {
        const t = await logs(e, id);
        return lastTick(t) > ticksBefore.get(id)! + 3 ? t : undefined;
      });
      // One process counting on: the ticks only go up (a second start would count from 0 again). A restored
      // pod's log starts where its checkpoint left the counter, so "tick 0" need not be in it.
      const ticks = [...text.matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1]));
      assert.ok(
        ticks.every((t, i) => i === 0 || t > ticks[i - 1]!),
        `the same process kept logging: no second start (${id}: ${ticks.slice(0, 5).join(',')} ...)`,
      );
    }
    // Nothing was stopped by the scheduler's reconcile of the new session meanwhile.
    await new Promise((r) => setTimeout(r, 1_500));
    for (const id of ids) assert.equal(((await (await e.api(`/v1/pods/${id}`)).json()) as PodJson).phase, 'Running');

    assert.equal((await e.api(`/v1/pools/${POOL}`, { method: 'DELETE' })).status < 300, true);
    for (const id of ids) assert.equal((await e.api(`/v1/pods/${id}`, { method: 'DELETE' })).status, 202);
    for (const id of ids) {
      await waitForPod(e, id, (p) => p.phase === 'Stopped', 60_000);
      await waitFor(`${id}'s artifacts to go`, async () => (podLeftovers(e, NODE, id).length === 0 ? true : undefined));
    }
    await waitFor('the pool to be gone', async () => ((await e.api(`/v1/pools/${POOL}`)).status === 404 ? true : undefined));
  });
});

/**
 * A pod restored from a checkpoint on node-1, when node-1 reports `criuOk`
 * (a CRIU-capable host); undefined otherwise (no working CRIU here: the
 * checkpoint e2e then fails on its own).
 */
async function restoredPodIfCapable(e: E2eCluster): Promise<string | undefined> {
  if ((await node(e, NODE))?.capabilities['criuOk'] !== true) return undefined;
  const spec = {
    image: 'warmpod/http:latest',
    command: TICKER,
    ports: [8080],
    nodeSelector: ON_NODE_1,
    checkpoint: { enabled: true, condition: { type: 'tcp', port: 8080 }, timeoutSeconds: 60 },
  };
  const source = await createPod(e, spec);
  await waitForPod(e, source.id, (p) => p.phase === 'Running', 120_000);
  const restored = await createPod(e, spec);
  const running = await waitForPod(e, restored.id, (p) => p.phase === 'Running', 120_000);
  assert.equal(running.startMode, 'restored');
  assert.equal((await e.api(`/v1/pods/${source.id}`, { method: 'DELETE' })).status, 202);
  await waitForPod(e, source.id, (p) => p.phase === 'Stopped', 60_000);
  return restored.id;
}
