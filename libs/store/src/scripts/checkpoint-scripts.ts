import { z } from 'zod';
import { CHECKPOINT_STATES } from '@warmpod/domain';
import { defineScript } from '../lua-script';
import { overQuota, yesNo } from './replies';

export const createCheckpoint = defineScript('createCheckpoint-3', {
  keys: ['record', 'tenantCheckpoints', 'nodeCheckpoints'],
  args: ['id', 'createdMs', 'checkpointStem', 'limits'],
  restArgs: 'fields',
  reply: z.union([yesNo, overQuota]),
});

const state = z.enum(CHECKPOINT_STATES);

export const applyCheckpointEvent = defineScript('applyCheckpointEvent-2', {
  keys: ['record', 'restorable'],
  args: ['event', 'to', 'allowedCsv', 'k', 'nowIso', 'reason', 'sizeBytes'],
  reply: z.union([
    z.tuple([z.literal('not-found'), z.literal('')]).transform(() => ({ outcome: 'not-found' as const })),
    z.tuple([z.enum(['applied', 'not-allowed', 'quarantined']), state]).transform(([outcome, from]) => ({ outcome, from })),
  ]),
});

/** A flat HGETALL list: field, value, ... */
const flatHash = z
  .array(z.string())
  .refine((flat) => flat.length % 2 === 0, 'an even number of fields and values')
  .transform((flat) => {
    const hash: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i] ?? ''] = flat[i + 1] ?? '';
    return hash;
  });

export const latestRestorable = defineScript('latestRestorable-1', {
  keys: ['restorable'],
  args: ['checkpointStem', 'k'],
  reply: flatHash,
});

export const removeCheckpoint = defineScript('removeCheckpoint-4', {
  keys: ['record', 'tenantCheckpoints', 'nodeCheckpoints', 'restorable'],
  args: ['id'],
  reply: yesNo,
});

export const setCheckpointArtifact = defineScript('setCheckpointArtifact-2', {
  keys: ['record', 'artifacts'],
  args: ['artifact', 'artifactBytes', 'nowIso'],
  reply: z.union([
    z.tuple([z.literal('not-found'), z.literal('')]).transform(() => ({ outcome: 'not-found' as const })),
    z.tuple([z.enum(['applied', 'not-allowed']), state]).transform(([outcome, from]) => ({ outcome, from })),
  ]),
});

export const notePushFailure = defineScript('notePushFailure-1', {
  keys: ['record'],
  args: ['reason'],
  reply: yesNo,
});

export const latestArtifact = defineScript('latestArtifact-1', {
  keys: ['artifacts'],
  args: ['checkpointStem', 'k', 'key'],
  reply: flatHash,
});

export const addCheckpointCopy = defineScript('addCheckpointCopy-2', {
  keys: ['record', 'copies'],
  args: ['node'],
  reply: yesNo,
});
