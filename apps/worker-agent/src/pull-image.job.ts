import type { JobData, JobHandler, JobRef } from '@warmpod/jobs';
import type { ImagePuller } from './image-puller';

/** Thin processor: the runner validated the payload; the puller does the work. */
export class PullImageHandler implements JobHandler<'pull-image'> {
  constructor(private readonly puller: ImagePuller) {}

  run(data: JobData<'pull-image'>, meta: { attempt: number }): Promise<void> {
    return this.puller.pull(data, meta.attempt);
  }

  onGiveUp({ digest }: JobData<'pull-image'> | JobRef<'pull-image'>, error: Error, meta: { attempts: number }): Promise<void> {
    return this.puller.giveUp(digest, error, meta.attempts);
  }
}
