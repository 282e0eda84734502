import { parseSlowInitState, SLOW_INIT_PORT, SLOW_INIT_STATE_PATH, slowInitCommand } from '@warmpod/devkit';
import { startBenchCluster } from './bench-cluster';
import { printResults } from './result-lines';
import { median, table } from './stats';

/**
 * `npm run bench:checkpoint`: on the VM node (real CRIU), the slow-init pod
 * started cold versus restored from its checkpoint, run by run in the same
 * session: request -> its state page answers from the host, medians over
 * RUNS, for each init length in INITS. Each run also takes an on-demand
 * checkpoint of the cold pod (its time and size). Target: restore-to-ready
 * at most 30% of cold-to-ready. Usage: checkpoint-bench [RUNS] [INITS, e.g. 5,60].
 */
const RUNS = Number(process.argv[2] ?? 5);
/** Init lengths to measure, side by side: the 5 s, and a longer one (CRIU's cost does not grow with it). */
const INITS = (process.argv[3] ?? '5,60').split(',').map(Number);
const VM_LABEL = { 'warmpod.io/criu-node': 'vm' };
const ENDED = ['Succeeded', 'Failed', 'Stopped', 'Lost'];

interface Pod {
  id: string;
  phase: string;
  startMode?: string;
  endpoints: Array<{ address: string }>;
  checkpoint?: { restoredFrom?: string };
}

interface Checkpoint {
  id: string;
  state: string;
  sizeBytes: number;
  createdAt: string;
  updatedAt?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const { cluster, call, close } = await startBenchCluster({
    name: 'checkpoint',
    nodes: [],
    logLevel: process.env['BENCH_VERBOSE'] ? 'info' : 'warn',
    // The emulated guest runs JS ~19x slower: a short ready window would flap it NotReady.
    env: { HEARTBEAT_MS: '1000', NODE_READY_WINDOW_MS: '20000' },
  });
  try {
    const vm = await cluster.addVmNode({
      id: 'vm-1',
      labels: VM_LABEL,
      cpu: 2,
      memoryMiB: 512,
      bridge: 'wpc-vm-1',
      subnet: '10.77.9.0/24',
    });
    const spec = (enabled: boolean, initSeconds: number) => ({
      image: `${cluster.registryHost}/warmpod/http:latest`,
      command: slowInitCommand(initSeconds),
      ports: [SLOW_INIT_PORT],
      nodeSelector: VM_LABEL,
      checkpoint: { enabled, condition: { type: 'http', port: SLOW_INIT_PORT, path: SLOW_INIT_STATE_PATH }, timeoutSeconds: 300 },
    });
    /** Request -> Running -> the state page answers from the host: what a client waits for. */
    const startUntilReady = async (enabled: boolean, initSeconds: number): Promise<{ pod: Pod; ms: number; memory: string }> => {
      const sent = performance.now();
      let pod = await call<Pod>('POST', '/v1/pods', spec(enabled, initSeconds));
      while (pod.phase !== 'Running') {
        if (ENDED.includes(pod.phase)) throw new Error(`pod ${pod.id} ended ${pod.phase}`);
        await sleep(20);
        pod = await call<Pod>('GET', `/v1/pods/${pod.id}`);
      }
      for (;;) {
        const body = await fetch(`http://${pod.endpoints[0]!.address}${SLOW_INIT_STATE_PATH}`, { signal: AbortSignal.timeout(5_000) }).then(
          (r) => (r.status === 200 ? r.text() : ''),
          () => '',
        );
        const state = parseSlowInitState(body);
        if (state) return { pod, ms: performance.now() - sent, memory: state.memory };
        if (performance.now() - sent > 600_000) throw new Error(`pod ${pod.id} never answered`);
        await sleep(20);
      }
    };
    const remove = async (id: string): Promise<void> => {
      await call('DELETE', `/v1/pods/${id}`);
      while (!ENDED.includes((await call<Pod>('GET', `/v1/pods/${id}`)).phase)) await sleep(50);
    };

    /** RUNS x (cold start, on-demand checkpoint of it, restore) for one init length. */
    const measure = async (initSeconds: number) => {
      const coldMs: number[] = [];
      const restoreMs: number[] = [];
      const checkpointMs: number[] = [];
      const sizes: number[] = [];
      let stateKept = 0;
      for (let i = 0; i < RUNS; i++) {
        const cold = await startUntilReady(false, initSeconds);
        if (cold.pod.startMode === 'restored') throw new Error('a pod without checkpointing was restored');
        coldMs.push(cold.ms);
        const { id } = await call<Checkpoint>('POST', `/v1/pods/${cold.pod.id}/checkpoint`);
        let ck = await call<Checkpoint>('GET', `/v1/checkpoints/${id}`);
        while (ck.state === 'pending') {
          await sleep(100);
          ck = await call<Checkpoint>('GET', `/v1/checkpoints/${id}`);
        }
        if (ck.state !== 'available') throw new Error(`checkpoint ${id} is ${ck.state}: ${JSON.stringify(ck)}`);
        checkpointMs.push(Date.parse(ck.updatedAt ?? ck.createdAt) - Date.parse(ck.createdAt));
        sizes.push(ck.sizeBytes);
        await remove(cold.pod.id);

        const restored = await startUntilReady(true, initSeconds);
        if (restored.pod.startMode !== 'restored') throw new Error(`run ${i}: expected a restore, got ${restored.pod.startMode}`);
        restoreMs.push(restored.ms);
        if (restored.memory === cold.memory) stateKept++;
        await remove(restored.pod.id);
      }
      return { initSeconds, coldMs, restoreMs, checkpointMs, sizes, stateKept };
    };
    const results = [];
    for (const initSeconds of INITS) results.push(await measure(initSeconds));

    if (process.env['BENCH_VERBOSE']) {
      // The agent's own step timings (restore, readiness, checkpoint), for where the time goes.
      const steps = /container (restored|checkpointed|started)|pod ready|checkpoint available|writable layer|pod running/;
      console.error(
        vm
          .agentLogs()
          .split('\n')
          .filter((l) => steps.test(l))
          .join('\n'),
      );
    }
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const rows: Array<[string, string, string]> = [['measure (VM node, QEMU/TCG, Debian 6.1 kernel)', 'median', 'runs']];
    for (const r of results) {
      const ratio = median(r.restoreMs) / median(r.coldMs);
      rows.push(
        [`${r.initSeconds} s init: cold start -> ready`, s(median(r.coldMs)), r.coldMs.map(s).join(', ')],
        [`${r.initSeconds} s init: restore -> ready`, s(median(r.restoreMs)), r.restoreMs.map(s).join(', ')],
        [`${r.initSeconds} s init: restore / cold`, `${(ratio * 100).toFixed(1)}%`, `target <= 30%: ${ratio <= 0.3 ? 'met' : 'NOT met'}`],
        [`${r.initSeconds} s init: checkpoint (on demand, pod keeps running)`, s(median(r.checkpointMs)), r.checkpointMs.map(s).join(', ')],
        [
          `${r.initSeconds} s init: checkpoint size (CRIU images + writable layer)`,
          `${(median(r.sizes) / 2 ** 20).toFixed(2)} MiB`,
          r.sizes.map((b) => (b / 2 ** 20).toFixed(2)).join(', '),
        ],
        [
          `${r.initSeconds} s init: restored pods serving the checkpointed state`,
          `${r.stateKept}/${RUNS}`,
          'in-memory token equal to the cold pod’s',
        ],
      );
    }
    rows.push([
      'VM boot / agent ready',
      `${s(vm.timings.bootMs)} / ${s(vm.timings.agentReadyMs ?? Number.NaN)}`,
      'once per run of the benchmark',
    ]);
    console.log(table(rows));
    printResults({
      ...Object.fromEntries(
        results.flatMap((r) => {
          const at = `init_${String(r.initSeconds).replace('.', '_')}s`;
          return [
            [`${at}_cold_p50_ms`, median(r.coldMs)],
            [`${at}_restore_p50_ms`, median(r.restoreMs)],
            [`${at}_restore_over_cold`, median(r.restoreMs) / median(r.coldMs)],
            [`${at}_checkpoint_p50_ms`, median(r.checkpointMs)],
            [`${at}_checkpoint_p50_mib`, median(r.sizes) / 2 ** 20],
            [`${at}_state_kept_count`, r.stateKept],
          ];
        }),
      ),
      vm_boot_ms: vm.timings.bootMs,
      vm_agent_ready_ms: vm.timings.agentReadyMs ?? Number.NaN,
    });
  } finally {
    await close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exit(1);
});
