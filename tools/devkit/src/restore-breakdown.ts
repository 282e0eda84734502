/**
 * One restore's time per step, in ms: what the agent's restore path spends
 * from "Restoring" to a ready pod. Shared by the restore profiler and the
 * checkpoint benchmark, so both print the same breakdown.
 */
export type RestoreTimings = Partial<Record<RestoreStep, number>>;

/** The steps in the order a restore runs them; indented ones are parts of the step above. */
export const RESTORE_STEPS = [
  ['unpackMs', 'writable layer unpack'],
  ['mountMs', 'overlay mount'],
  ['netnsMs', 'netns + CNI'],
  ['prepareMs', 'unpack ‖ mount ‖ netns (wall)'],
  ['specMs', 'runtime spec written'],
  ['verifyMs', 'image checksum verify'],
  ['runcMs', 'runc restore (spawn -> pid file)'],
  ['criuKdatMs', '  criu: kernel features'],
  ['criuForkMs', '  criu: images, cgroups, fork'],
  ['criuMountsMs', '  criu: mount namespace'],
  ['criuTasksMs', '  criu: files, memory, restorer'],
  ['criuResumeMs', '  criu: network unlock -> resumed'],
  ['criuTotalMs', '  criu: total (log)'],
  ['runcOwnMs', '  runc itself (rest)'],
  ['resumeMs', 'pid file -> tasks resumed, CPU quota set'],
  ['adoptMs', 'adopt restored processes'],
  ['firstProbeMs', 'readiness: first success'],
  ['readyMs', 'readiness: confirmed'],
  ['totalMs', 'total: Restoring -> ready'],
] as const;

export type RestoreStep = (typeof RESTORE_STEPS)[number][0];

function median(sample: readonly number[]): number {
  const sorted = [...sample].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length / 2) - 1))]!;
}

/**
 * Table rows (header first): one row per step that any run measured, one
 * column of medians per variant, so variants measured in the same session
 * read side by side.
 */
export function restoreBreakdownRows(variants: ReadonlyArray<{ name: string; runs: readonly RestoreTimings[] }>): string[][] {
  const header = ['step', ...variants.map((v) => `${v.name} (median ms, n=${v.runs.length})`)];
  const rows = RESTORE_STEPS.filter(([key]) => variants.some((v) => v.runs.some((r) => r[key] !== undefined))).map(([key, label]) => [
    label,
    ...variants.map((v) => {
      const sample = v.runs.map((r) => r[key]).filter((ms): ms is number => ms !== undefined);
      return sample.length === 0 ? '-' : median(sample).toFixed(0);
    }),
  ]);
  return [header, ...rows];
}

/** A Markdown table of any width. */
export function markdownTable(rows: readonly string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => `| ${widths.map((w, i) => (r[i] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}
