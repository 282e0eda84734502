import { isEventId, type EventLog, type EventScope } from '@warmpod/store';
import { ApiError } from '../http/api-error';

/** Where a stream starts: after `afterId`; `gap` when events between were trimmed from the backlog. */
export interface StreamStart {
  afterId: string;
  gap: boolean;
}

const HEADER = 'header Last-Event-ID';

function invalid(message: string): ApiError {
  return new ApiError(400, 'invalid_last_event_id', message, [{ path: HEADER, message }]);
}

/**
 * Reads `Last-Event-ID`: without it a pod's stream starts at its first kept
 * event and the others with what happens next; with it, right after that
 * event. An id that is not one, another tenant's or pod's, or one never
 * written is a 400; one trimmed from the backlog resumes at the oldest kept
 * event and says so (`gap`).
 */
export async function resumePoint(log: EventLog, scope: EventScope, header: string | string[] | undefined): Promise<StreamStart> {
  if (Array.isArray(header)) throw invalid('Last-Event-ID given more than once');
  if (header === undefined || header === '') {
    return { afterId: scope.kind === 'pod' ? '0-0' : await log.latestId(scope), gap: false };
  }
  if (!isEventId(header))
    throw invalid(`Last-Event-ID "${header.slice(0, 64)}" is not an event id (expected <ms>-<seq>, as sent in "id:")`);
  switch (await log.locate(scope, header)) {
    case 'kept':
      return { afterId: header, gap: false };
    case 'trimmed':
      return { afterId: '0-0', gap: true };
    case 'foreign':
      throw invalid(`Last-Event-ID ${header} is not an event of this stream`);
    case 'future':
      throw invalid(`Last-Event-ID ${header} is newer than any event`);
  }
}
