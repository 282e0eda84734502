import type { HandlerTable, JobData, JobHandler, PodRef } from '@warmpod/jobs';
import type { ImagePuller } from './image-puller';
import type { PodSupervisor } from './pod-supervisor';
import { PullImageHandler } from './pull-image.job';

/** Thin processors: the payload is already validated by the runner; the supervisor does the work. */
class StartPodHandler implements JobHandler<'start-pod'> {
  constructor(
    private readonly supervisor: PodSupervisor,
    private readonly onStarted: (podId: string) => void,
  ) {}
  async run({ podId }: JobData<'start-pod'>, meta: { attempt: number }): Promise<void> {
    await this.supervisor.start(podId, meta.attempt);
    this.onStarted(podId);
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

/** `onPodStarted` hears of every start that ran (the image's last use, for the disk budget). */
export function nodeJobHandlers(supervisor: PodSupervisor, puller: ImagePuller, onPodStarted: (podId: string) => void = () => undefined): HandlerTable<'node'> {
  return {
    'start-pod': new StartPodHandler(supervisor, onPodStarted),
    'stop-pod': new StopPodHandler(supervisor),
    'pull-image': new PullImageHandler(puller),
  };
}
