export const POD_PHASES = [
  'Pending',
  'Scheduled',
  'Pulling',
  'Starting',
  'Restoring',
  'Running',
  'Succeeded',
  'Failed',
  'Stopped',
  'Lost',
] as const;
export type PodPhase = (typeof POD_PHASES)[number];

export const TERMINAL_PHASES: readonly PodPhase[] = ['Succeeded', 'Failed', 'Stopped', 'Lost'];

export function isTerminal(phase: PodPhase): boolean {
  return TERMINAL_PHASES.includes(phase);
}

export function isPodPhase(value: string): value is PodPhase {
  return (POD_PHASES as readonly string[]).includes(value);
}

/** Which phases a pod may be in when it moves to `to`. */
const ALLOWED_FROM: Record<PodPhase, readonly PodPhase[]> = {
  // Only a restartable pod whose node was lost goes back to Pending.
  Pending: ['Lost'],
  Scheduled: ['Pending'],
  Pulling: ['Scheduled'],
  // From Restoring: a failed restore falls back to a normal start in the same job.
  Starting: ['Scheduled', 'Pulling', 'Restoring'],
  Restoring: ['Scheduled', 'Pulling'],
  Running: ['Starting', 'Restoring'],
  Succeeded: ['Running'],
  Failed: ['Pending', 'Scheduled', 'Pulling', 'Starting', 'Restoring', 'Running'],
  Stopped: ['Pending', 'Scheduled', 'Pulling', 'Starting', 'Restoring', 'Running'],
  Lost: ['Scheduled', 'Pulling', 'Starting', 'Restoring', 'Running'],
};

export function phasesBefore(to: PodPhase): readonly PodPhase[] {
  return ALLOWED_FROM[to];
}

export function canTransition(from: PodPhase, to: PodPhase): boolean {
  return ALLOWED_FROM[to].includes(from);
}
