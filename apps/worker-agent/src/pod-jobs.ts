import type { HandlerTable, JobData, JobHandler, PodRef } from '@warmpod/jobs';
import type { PodSupervisor } from './pod-supervisor';

/** Thin processors: the payload is already validated by the runner; the supervisor does the work. */
class StartPodHandler implements JobHandler<'start-pod'> {
  constructor(private readonly supervisor: PodSupervisor) {}
  run({ podId }: JobData<'start-pod'>, meta: { attempt: number }): Promise<void> {
    return this.supervisor.start(podId, meta.attempt);
  }
  onGiveUp({ podId }: PodRef, error: Error): Promise<void> {
    return this.supervisor.giveUp(podId, error);
  }
}

class StopPodHandler implements JobHandler<'stop-pod'> {
  constructor(private readonly supervisor: PodSupervisor) {}
  run({ podId }: JobData<'stop-pod'>): Promise<void> {
    return this.supervisor.stop(podId);
  }
}

export function nodeJobHandlers(supervisor: PodSupervisor): HandlerTable<'node'> {
  return { 'start-pod': new StartPodHandler(supervisor), 'stop-pod': new StopPodHandler(supervisor) };
}
