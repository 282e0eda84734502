import { markdownTable } from '@warmpod/devkit';
import type { KindRuns, RestoreBreakdown } from './checkpoint-runs';
import type { BenchResults } from './result-lines';
import { median } from './stats';

/** Targets of issue #10 for the same-node restore of the 5 s pod. */
export const TARGET_RESTORE_OVER_COLD = 0.1;
export const TARGET_RESTORE_P50_MS = 500;
/** CRIU's often-quoted single-thread restore speed, for comparison. */
const CRIU_REFERENCE_MB_PER_S = 1000;
/** Target of issue #10 for the restore of the 5 s pod on a node that fetches the checkpoint. */
export const TARGET_REMOTE_OVER_COLD = 0.2;

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
const pct = (ratio: number) => `${(ratio * 100).toFixed(1)}%`;
const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
const medianOf = (runs: readonly RestoreBreakdown[], key: keyof RestoreBreakdown): number | undefined => {
  const sample = runs.map((b) => b[key]).filter((v): v is number => v !== undefined);
  return sample.length === 0 ? undefined : median(sample);
};

/** MB (10^6 bytes) per second of the checkpoint restored in `ms`. */
const mbPerS = (bytes: number, ms: number | undefined) => (ms === undefined || ms <= 0 ? Number.NaN : bytes / 1e6 / (ms / 1000));

function throughputs(r: KindRuns) {
  const size = median(r.sizes);
  return {
    runc: mbPerS(size, medianOf(r.breakdowns, 'runcMs')),
    criu: mbPerS(size, medianOf(r.breakdowns, 'criuTotalMs')),
    ready: mbPerS(size, median(r.restoreMs)),
  };
}

/** Throughput of pods with in-memory state only: the others are fixed costs, not bytes. */
const rate = (r: KindRuns, of: keyof ReturnType<typeof throughputs>) =>
  r.kind.stateMiB > 0 ? `${throughputs(r)[of].toFixed(0)} MB/s` : '-';

/** The headline table: one column per pod kind, medians with ratios side by side, then the targets. */
export function summaryTable(results: readonly KindRuns[], runs: number): string {
  const header = ['measure (host node, median)', ...results.map((r) => r.kind.name), 'target'];
  const first = results[0];
  const ratio = (r: KindRuns) => median(r.restoreMs) / median(r.coldMs);
  const remoteRatio = (r: KindRuns) => median(r.remoteMs) / median(r.coldMs);
  const row = (label: string, cell: (r: KindRuns) => string, target = ''): string[] => [label, ...results.map(cell), target];
  const rows = [
    header,
    row('cold start -> ready', (r) => s(median(r.coldMs))),
    row(
      'restore -> ready, same node',
      (r) => s(median(r.restoreMs)),
      first ? `p50 < ${TARGET_RESTORE_P50_MS / 1000} s (${first.kind.name}): ${met(median(first.restoreMs) < TARGET_RESTORE_P50_MS)}` : '',
    ),
    row(
      'restore / cold, same node',
      (r) => pct(ratio(r)),
      first ? `<= ${pct(TARGET_RESTORE_OVER_COLD)} (${first.kind.name}): ${met(ratio(first) <= TARGET_RESTORE_OVER_COLD)}` : '',
    ),
    row('restore -> ready, another node (fetches the artifact)', (r) => s(median(r.remoteMs))),
    row(
      'restore / cold, another node',
      (r) => pct(remoteRatio(r)),
      first ? `<= ${pct(TARGET_REMOTE_OVER_COLD)} (${first.kind.name}): ${met(remoteRatio(first) <= TARGET_REMOTE_OVER_COLD)}` : '',
    ),
    row('push to the registry (available -> artifact recorded)', (r) => s(median(r.pushMs))),
    row('checkpoint on demand (pod keeps running)', (r) => s(median(r.checkpointMs))),
    row('checkpoint size (CRIU images + writable layer)', (r) => mib(median(r.sizes))),
    row('restored pods serving the cold pod’s in-memory token', (r) => `${r.stateKept}/${runs}`),
    row('state resident after restore (VmRSS of the holder)', (r) => (r.heldKiB.length ? mib(median(r.heldKiB) * 1024) : '-')),
    row('restore throughput: size / runc restore', (r) => rate(r, 'runc'), `CRIU ~${CRIU_REFERENCE_MB_PER_S} MB/s single-thread`),
    row('restore throughput: size / CRIU (its log)', (r) => rate(r, 'criu'), `CRIU ~${CRIU_REFERENCE_MB_PER_S} MB/s single-thread`),
    row('restore throughput: size / restore -> ready', (r) => rate(r, 'ready')),
  ];
  return markdownTable(rows);
}

/** Every run's figures, for the noise behind the medians. */
export function runsTable(results: readonly KindRuns[]): string {
  const rows = [['pod', 'measure', 'runs']];
  for (const r of results) {
    rows.push(
      [r.kind.name, 'cold -> ready (s)', r.coldMs.map((ms) => (ms / 1000).toFixed(2)).join(', ')],
      [r.kind.name, 'restore -> ready (s)', r.restoreMs.map((ms) => (ms / 1000).toFixed(2)).join(', ')],
      [r.kind.name, 'remote restore -> ready (s)', r.remoteMs.map((ms) => (ms / 1000).toFixed(2)).join(', ')],
      [r.kind.name, 'checkpoint (s)', r.checkpointMs.map((ms) => (ms / 1000).toFixed(2)).join(', ')],
      [r.kind.name, 'size (MiB)', r.sizes.map((b) => (b / 2 ** 20).toFixed(2)).join(', ')],
    );
  }
  return markdownTable(rows);
}

const STEPS: Array<[keyof RestoreBreakdown, string]> = [
  ['toRestoringMs', 'request -> Restoring (gateway, scheduler, dispatch)'],
  ['restoringToRunningMs', 'Restoring -> Running (agent, pod timeline)'],
  ['prepareMs', '  prepare (wall): unpack+mount ‖ netns ‖ verify, then spec'],
  ['unpackMs', '    writable layer unpacked'],
  ['mountMs', '    overlay mounted (after the unpack)'],
  ['netnsMs', '    netns + CNI'],
  ['verifyMs', '    CRIU images verified'],
  ['specMs', '    runtime spec written'],
  ['runcRestoreMs', '  restore (checkpointer, all of it)'],
  ['checkpointerOwnMs', '    restore bundle, dirs, cgroup lookup'],
  ['runcMs', '    runc restore (spawn -> pid file)'],
  ['criuKdatMs', '      criu: kernel features'],
  ['criuForkMs', '      criu: images, cgroups, fork'],
  ['criuMountsMs', '      criu: mount namespace'],
  ['criuTasksMs', '      criu: files, memory, restorer'],
  ['criuResumeMs', '      criu: network unlock -> resumed'],
  ['criuTotalMs', '      criu: total (its log)'],
  ['runcOwnMs', '      runc itself (rest)'],
  ['resumeMs', '    pid file -> CRIU let go of the tasks'],
  ['adoptMs', '    adopt restored processes'],
  ['readinessMs', '  readiness confirmed'],
  ['readinessProbes', '    probes it took (count, not ms)'],
  ['exposeMs', '  ports exposed'],
  ['recordMs', '  checkpoint record: restored'],
  ['agentOtherMs', '  other: Restoring/Running writes, hold'],
  ['runningToAnswerMs', 'Running -> state page answers the client'],
  ['runningSeenMs', '  Running written -> client sees it'],
  ['answerMs', '  state page through the exposed port'],
  ['totalMs', 'total: request -> state page (client)'],
];

/** Median ms of each step of a same-node restore, one column per pod kind. */
export function breakdownTable(results: readonly KindRuns[]): string {
  const header = ['restore step (median ms)', ...results.map((r) => `${r.kind.name} (n=${r.breakdowns.length})`)];
  const rows = STEPS.filter(([key]) => results.some((r) => medianOf(r.breakdowns, key) !== undefined)).map(([key, label]) => [
    label,
    ...results.map((r) => medianOf(r.breakdowns, key)?.toFixed(0) ?? '-'),
  ]);
  return markdownTable([header, ...rows]);
}

/** Headline figures, one number each. */
export function checkpointResults(results: readonly KindRuns[]): BenchResults {
  const out: BenchResults = {};
  for (const r of results) {
    const k = r.kind.key;
    Object.assign(out, {
      [`cold_p50_ms_${k}`]: median(r.coldMs),
      [`restore_p50_ms_${k}`]: median(r.restoreMs),
      [`restore_over_cold_${k}`]: median(r.restoreMs) / median(r.coldMs),
      [`remote_restore_p50_ms_${k}`]: median(r.remoteMs),
      [`remote_restore_over_cold_${k}`]: median(r.remoteMs) / median(r.coldMs),
      [`push_ms_${k}`]: median(r.pushMs),
      [`checkpoint_ms_${k}`]: median(r.checkpointMs),
      [`checkpoint_mib_${k}`]: median(r.sizes) / 2 ** 20,
      [`state_kept_count_${k}`]: r.stateKept,
    });
    if (r.kind.stateMiB > 0) {
      const t = throughputs(r);
      Object.assign(out, {
        [`restore_mb_per_s_${k}`]: t.runc,
        [`restore_criu_mb_per_s_${k}`]: t.criu,
        [`restore_to_ready_mb_per_s_${k}`]: t.ready,
      });
    }
  }
  return out;
}
