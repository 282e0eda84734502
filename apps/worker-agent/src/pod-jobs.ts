import type { HandlerTable, JobData, JobHandler, JobRef, PodRef } from '@warmpod/jobs';
import type { ImagePuller } from './image-puller';
import type { PodCheckpoints } from './pod-checkpoints';
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

class CheckpointPodHandler implements JobHandler<'checkpoint-pod'> {
  constructor(
    private readonly supervisor: PodSupervisor,
    private readonly checkpoints: PodCheckpoints | undefined,
  ) {}
  run({ podId, checkpointId }: JobData<'checkpoint-pod'>): Promise<void> {
    return this.supervisor.checkpointNow(podId, checkpointId);
  }
  async onGiveUp({ checkpointId }: JobRef<'checkpoint-pod'>, error: Error): Promise<void> {
    await this.checkpoints?.refuse(checkpointId, error.message);
  }
}

class DeleteCheckpointHandler implements JobHandler<'delete-checkpoint'> {
  constructor(private readonly checkpoints: PodCheckpoints | undefined) {}
  async run({ checkpointId }: JobData<'delete-checkpoint'>): Promise<void> {
    // A node that cannot checkpoint holds no checkpoint files.
    await this.checkpoints?.remove(checkpointId);
  }
}

/** `onPodStarted` hears of every start that ran (the image's last use, for the disk budget). */
export function nodeJobHandlers(
  supervisor: PodSupervisor,
  puller: ImagePuller,
  checkpoints: PodCheckpoints | undefined,
  onPodStarted: (podId: string) => void = () => undefined,
): HandlerTable<'node'> {
  return {
    'start-pod': new StartPodHandler(supervisor, onPodStarted),
    'stop-pod': new StopPodHandler(supervisor),
    'pull-image': new PullImageHandler(puller),
    'checkpoint-pod': new CheckpointPodHandler(supervisor, checkpoints),
    'delete-checkpoint': new DeleteCheckpointHandler(checkpoints),
  };
}
