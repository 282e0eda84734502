import type { Provider } from '@nestjs/common';
import { CancelJob } from './cancel-job';
import { IntakeDoor } from './intake-door';
import { RunPodJob } from './run-pod-job';

/** The queue door: its jobs call the same admission and stopper as the REST door. */
export function intakeProviders(): Provider[] {
  return [RunPodJob, CancelJob, IntakeDoor];
}
