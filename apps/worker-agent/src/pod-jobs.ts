import type { HandlerTable, JobData, JobHandler, JobRef, PodRef } from '@warmpod/jobs';
import type { CheckpointOnDemand } from './checkpoint-on-demand';
import type { ImagePuller } from './image-puller';
import type { PodCheckpoints } from './pod-checkpoints';
import type { PodStarter } from './pod-starter';
import type { PodStopper } from './pod-stopper';
import { PullImageHandler } from './pull-image.job';

/** Thin processors: the payload is already validated by the runner; the lifecycle pieces do the work. */
class StartPodHandler implements JobHandler<'start-pod'> {
  constructor(
    private readonly starter: PodStarter,
    private readonly onStarted: (podId: string) => void,
  ) {}
  async run({ podId }: JobData<'start-pod'>, meta: { attempt: number }): Promise<void> {
    await this.starter.start(podId, meta.attempt);
    this.onStarted(podId);
  }
  onGiveUp({ podId }: PodRef, error: Error): Promise<void> {
    return this.starter.giveUp(podId, error);
  }
}

class StopPodHandler implements JobHandler<'stop-pod'> {
  constructor(private readonly stopper: PodStopper) {}
  run({ podId }: JobData<'stop-pod'>): Promise<void> {
    return this.stopper.stop(podId);
  }
}

class CheckpointPodHandler implements JobHandler<'checkpoint-pod'> {
  constructor(private readonly onDemand: CheckpointOnDemand) {}
  run({ podId, checkpointId }: JobData<'checkpoint-pod'>): Promise<void> {
    return this.onDemand.take(podId, checkpointId);
  }
  onGiveUp({ checkpointId }: JobRef<'checkpoint-pod'>, error: Error): Promise<void> {
    return this.onDemand.gaveUp(checkpointId, error);
  }
}

class DeleteCheckpointHandler implements JobHandler<'delete-checkpoint'> {
  constructor(private readonly checkpoints: PodCheckpoints | undefined) {}
  async run({ checkpointId }: JobData<'delete-checkpoint'>): Promise<void> {
    // A node that cannot checkpoint holds no checkpoint files.
    await this.checkpoints?.remove(checkpointId);
  }
}

/** The node is asked to leave: the leave runs outside the job (it closes the runner this job runs in). */
class DrainNodeHandler implements JobHandler<'drain-node'> {
  constructor(private readonly onDrain: () => void) {}
  async run(): Promise<void> {
    this.onDrain();
  }
}

export interface NodeJobServices {
  starter: PodStarter;
  stopper: PodStopper;
  checkpointOnDemand: CheckpointOnDemand;
  puller: ImagePuller;
  /** Undefined: this node cannot checkpoint. */
  checkpoints: PodCheckpoints | undefined;
  /** Hears of every start that ran (the image's last use, for the disk budget). */
  onPodStarted?: (podId: string) => void;
  /** A drain-node job: the agent leaves the cluster. */
  onDrain: () => void;
}

export function nodeJobHandlers(s: NodeJobServices): HandlerTable<'node'> {
  return {
    'start-pod': new StartPodHandler(s.starter, s.onPodStarted ?? (() => undefined)),
    'stop-pod': new StopPodHandler(s.stopper),
    'pull-image': new PullImageHandler(s.puller),
    'checkpoint-pod': new CheckpointPodHandler(s.checkpointOnDemand),
    'delete-checkpoint': new DeleteCheckpointHandler(s.checkpoints),
    'drain-node': new DrainNodeHandler(s.onDrain),
  };
}
