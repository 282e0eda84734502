import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startBenchCluster } from './bench-cluster';
import { breakdownTable, checkpointResults, runsTable, summaryTable } from './checkpoint-report';
import { measureKind, pullFirst, type KindRuns, type PodKind } from './checkpoint-runs';
import { printResults } from './result-lines';

/**
 * `npm run bench:checkpoint`: on a host node of a local cluster of its own
 * (runc + the bootstrap's CRIU), slow-init pods started cold versus restored
 * from an on-demand checkpoint on the same node, run by run in one session:
 * request -> its state page answers from the host, medians over RUNS, for
 * each init length in INITS and for a pod that builds STATE_MIB of in-memory
 * state during init. Prints the medians side by side with the targets, every
 * run, a per-step breakdown of a restore, then `result:` lines.
 *
 *   checkpoint-bench [RUNS, default 5] [INITS, default 5,60]   (env STATE_MIB, default 256; 0 skips that pod)
 */
const RUNS = Number(process.argv[2] ?? process.env['RUNS'] ?? 5);
const INITS = (process.argv[3] ?? process.env['INITS'] ?? '5,60').split(',').map(Number);
const STATE_MIB = Number(process.env['STATE_MIB'] ?? 256);
/** Init of the pod with state: the allocation runs alongside it. */
const STATE_INIT_SECONDS = 5;
const NODE = 'node-1';
const LABEL = { 'warmpod.io/bench': 'checkpoint' };
/** Same CRIU as node-1: its restores fetch node-1's checkpoints from the registry. */
const REMOTE_NODE = 'node-2';
const REMOTE_LABEL = { 'warmpod.io/bench': 'checkpoint-remote' };

function kinds(): PodKind[] {
  if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`RUNS must be a whole number >= 1, not ${process.argv[2]}`);
  if (INITS.some((i) => !(i > 0))) throw new Error(`INITS must be seconds > 0, e.g. 5,60: not ${INITS.join(',')}`);
  const out: PodKind[] = INITS.map((initSeconds) => ({
    name: `${initSeconds} s init`,
    key: `${String(initSeconds).replace('.', '_')}s`,
    initSeconds,
    stateMiB: 0,
  }));
  // Pages CRIU dumps and restores: a whole CPU, so the copy is not throttled to the default 0.1.
  if (STATE_MIB > 0) {
    out.push({
      name: `${STATE_MIB} MiB state, ${STATE_INIT_SECONDS} s init`,
      key: `${STATE_MIB}mib`,
      initSeconds: STATE_INIT_SECONDS,
      stateMiB: STATE_MIB,
      resources: { cpu: 1, memoryMiB: 2 * STATE_MIB + 256 },
    });
  }
  return out;
}

async function main(): Promise<void> {
  const podKinds = kinds();
  const tag = randomBytes(2).toString('hex');
  const { cluster, workDir, call, close } = await startBenchCluster({
    name: 'checkpoint',
    nodes: [
      {
        id: NODE,
        cpu: 2,
        memoryMiB: 4096,
        gpu: 0,
        labels: LABEL,
        bridge: `wck${tag}`,
        subnet: `10.${200 + (Number.parseInt(tag, 16) % 50)}.1.0/24`,
        // The agent logs each restore's steps (CRIU's phases among them) at info: the breakdown reads them.
        env: { LOG_LEVEL: 'info' },
      },
      {
        id: REMOTE_NODE,
        cpu: 2,
        memoryMiB: 4096,
        gpu: 0,
        labels: REMOTE_LABEL,
        bridge: `wck${tag}r`,
        subnet: `10.${200 + (Number.parseInt(tag, 16) % 50)}.2.0/24`,
      },
    ],
    logLevel: process.env['BENCH_VERBOSE'] ? 'info' : 'warn',
  });
  try {
    const results: KindRuns[] = [];
    const started = performance.now();
    const ctx = {
      call,
      registryHost: cluster.registryHost,
      nodeSelector: LABEL,
      remoteNodeSelector: REMOTE_LABEL,
      nodeLogPath: join(workDir, 'logs', `${NODE}.log`),
      log: (line: string) => console.error(line),
    };
    // Cold starts are measured with the image on the node, as restores find it.
    await pullFirst(ctx);
    await pullFirst(ctx, REMOTE_LABEL);
    for (const kind of podKinds) results.push(await measureKind(ctx, kind, RUNS));
    console.log(
      `checkpoint benchmark: ${RUNS} runs per pod, two host nodes of one runtime (runc + CRIU; the second fetches from the registry), ${((performance.now() - started) / 60_000).toFixed(1)} min`,
    );
    console.log(summaryTable(results, RUNS));
    console.log('');
    console.log(runsTable(results));
    console.log('');
    console.log(breakdownTable(results));
    printResults(checkpointResults(results));
  } finally {
    await close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exit(1);
});
