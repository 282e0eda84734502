import { z } from 'zod';
import { defineScript } from '../lua-script';
import { done, yesNo } from './replies';

export const claimPull = defineScript('claimPull-2', {
  keys: ['status', 'inflight'],
  args: ['node', 'pinned', 'clusterBudget', 'nodeBudget', 'nowIso', 'channel', 'message'],
  reply: z.enum(['claimed', 'exists', 'busy']),
});

export const finishPull = defineScript('finishPull-2', {
  keys: ['status', 'inflight'],
  args: ['node', 'state', 'reason', 'nowIso', 'channel', 'message'],
  reply: done,
});

export const pullProgress = defineScript('pullProgress-1', {
  keys: ['status'],
  args: ['bytesDone', 'bytesTotal', 'layersDone', 'layersTotal', 'attempt', 'nowIso'],
  reply: yesNo,
});

export const abandonPull = defineScript('abandonPull-2', {
  keys: ['status', 'inflight'],
  args: ['node', 'reason', 'nowIso', 'channel', 'message'],
  reply: yesNo,
});

export const dropIdlePullCount = defineScript('dropIdlePullCount-1', { keys: ['inflight'], args: ['node'], reply: z.number().int() });

export const assignHintNode = defineScript('assignHintNode-1', {
  keys: ['hintNodes'],
  args: ['pinned', 'expected', 'node'],
  reply: z.string(),
});

export const replaceProtectedSet = defineScript('replaceProtectedSet-2', {
  keys: ['protected', 'protectedNodes'],
  args: ['node'],
  restArgs: 'digests',
  reply: done,
});
