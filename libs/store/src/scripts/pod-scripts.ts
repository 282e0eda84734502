import { z } from 'zod';
import { defineScript } from '../lua-script';
import { done, idempotencyHeld, overQuota, transitionReply } from './replies';

const POD_ARGS = [
  'specJson',
  'createdMs',
  'podId',
  'bodyHash',
  'idemTtlSec',
  'createdIso',
  'tenant',
  'allEvents',
  'tenantEventsStem',
  'podEventsStem',
  'statusStem',
  'charge',
  'limits',
  'lostBeforeIso',
] as const;

export const createPod = defineScript('createPod-4', {
  keys: ['spec', 'status', 'tenantPods', 'quotaPods'],
  restKeys: 'idempotency',
  args: POD_ARGS,
  reply: z.union([
    z.tuple([z.literal('created'), z.string()]).transform(([, podId]) => ({ kind: 'created' as const, podId })),
    z.tuple([z.literal('collision'), z.string()]).transform(() => ({ kind: 'collision' as const })),
    z.tuple([z.literal('exists'), idempotencyHeld]).transform(([, held]) => ({ kind: 'exists' as const, ...held })),
    overQuota,
  ]),
});

export const removePod = defineScript('removePod-3', {
  keys: ['spec', 'status', 'tenantPods'],
  restKeys: 'idempotency',
  args: ['podId', 'allEvents', 'tenantEvents', 'podEvents'],
  reply: done,
});

export const annotatePod = defineScript('annotatePod-1', { keys: ['status'], args: [], restArgs: 'fields', reply: done });

export const transitionPod = defineScript('transitionPod-1', {
  keys: ['status'],
  args: ['to', 'nowIso', 'allowedCsv', 'podId', 'allEvents', 'tenantEventsStem', 'podEventsStem'],
  restArgs: 'fields',
  reply: transitionReply,
});

export const endPodOnNode = defineScript('endPodOnNode-3', {
  keys: ['status', 'usage', 'reservations'],
  args: ['to', 'nowIso', 'allowedCsv', 'podId', 'channel', 'nodeId', 'allEvents', 'tenantEventsStem', 'podEventsStem'],
  restArgs: 'fields',
  reply: transitionReply,
});
