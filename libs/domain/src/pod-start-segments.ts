import type { PodPhase } from './pod-phase';
import type { PodRecord, StartMode } from './pod';

/** The parts of a start a person asks about; `total` is from Pending to Running. */
export const POD_START_SEGMENTS = ['placement', 'dispatch', 'pull', 'restore', 'start', 'total'] as const;
export type PodStartSegment = (typeof POD_START_SEGMENTS)[number];

export interface SegmentDuration {
  segment: PodStartSegment;
  seconds: number;
}

/** Phases of a start in the order they happen; the next present one ends a segment. */
const ORDER: readonly PodPhase[] = ['Pending', 'Scheduled', 'Pulling', 'Restoring', 'Starting', 'Running'];
const SEGMENT_OF: Partial<Record<PodPhase, PodStartSegment>> = {
  Pending: 'placement',
  Scheduled: 'dispatch',
  Pulling: 'pull',
  Restoring: 'restore',
  Starting: 'start',
};

/**
 * How long each part of a pod's start took, from its timeline, once it is
 * Running: every phase it went through up to the next one it went through
 * (a fallback's restore ends when its normal start begins). Parts without
 * both timestamps, or whose clock went backwards, are left out.
 */
export function podStartSegments(pod: Pick<PodRecord, 'timeline'>): SegmentDuration[] {
  const at = (phase: PodPhase): number | undefined => {
    const iso = pod.timeline[phase];
    const ms = iso === undefined ? NaN : Date.parse(iso);
    return Number.isFinite(ms) ? ms : undefined;
  };
  const present = ORDER.filter((phase) => at(phase) !== undefined);
  if (!present.includes('Running')) return [];
  const out: SegmentDuration[] = [];
  for (let i = 0; i < present.length - 1; i++) {
    const segment = SEGMENT_OF[present[i]!];
    const seconds = (at(present[i + 1]!)! - at(present[i]!)!) / 1000;
    if (segment && seconds >= 0) out.push({ segment, seconds });
  }
  const pending = at('Pending');
  const total = pending === undefined ? undefined : (at('Running')! - pending) / 1000;
  if (total !== undefined && total >= 0) out.push({ segment: 'total', seconds: total });
  return out;
}

/** The start modes, for a metric's bounded label set. */
export const START_MODES: readonly StartMode[] = ['cold', 'warm-cache', 'warm-pool', 'restored', 'fallback'];
