import { z } from 'zod';
import { defineScript } from '../lua-script';
import { done, idempotencyHeld, overQuota, yesNo } from './replies';

const MEMBER_KEYS = ['pool', 'members', 'retiring', 'stats'] as const;

export const createPool = defineScript('createPool-4', {
  keys: ['pool', 'names', 'pools', 'tenantPools'],
  args: ['id', 'nameField', 'defJson', 'imageJson', 'digest', 'size', 'nowIso', 'channel', 'poolStem', 'poolPodsLimit'],
  reply: z.union([z.tuple([z.enum(['created', 'exists']), z.string()]).transform(([outcome]) => outcome), overQuota]),
});

export const updatePool = defineScript('updatePool-5', {
  keys: [...MEMBER_KEYS, 'tenantPools'],
  args: ['size', 'imageJson', 'digest', 'nowIso', 'channel', 'id', 'statusStem', 'message', 'nowMs', 'poolStem', 'poolPodsLimit'],
  reply: z.union([z.literal(-1), z.literal(0), z.literal(1), overQuota]),
});

export const drainPool = defineScript('drainPool-2', {
  keys: ['pool', 'names'],
  args: ['nameField', 'id', 'nowIso', 'channel'],
  reply: yesNo,
});

export const finishDrain = defineScript('finishDrain-7', {
  keys: [...MEMBER_KEYS, 'pools', 'tenantPools', 'oldPins'],
  args: ['id'],
  reply: yesNo,
});

export const admitMember = defineScript('admitMember-3', {
  keys: ['pool', 'members', 'stats'],
  args: ['statusStem', 'podId', 'digest', 'nowMs', 'graceMs'],
  reply: z.enum(['admitted', 'full', 'stale', 'backoff', 'inactive']),
});

export const claimWarmPod = defineScript('claimWarmPod-4', {
  keys: ['pool', 'members', 'stats', 'quotaPods'],
  restKeys: 'idempotency',
  args: ['statusStem', 'bodyHash', 'idemTtlSec', 'message', 'channel', 'poolId', 'charge', 'limits', 'lostBeforeIso'],
  reply: z.union([
    z.tuple([z.literal('claimed'), z.string(), z.string()]).transform(([, podId, digest]) => ({ kind: 'claimed' as const, podId, digest })),
    z.tuple([z.literal('exists'), idempotencyHeld]).transform(([, held]) => ({ kind: 'exists' as const, ...held })),
    z.tuple([z.literal('none')]).transform(() => ({ kind: 'none' as const })),
    z.tuple([z.literal('inactive')]).transform(() => ({ kind: 'inactive' as const })),
    overQuota,
  ]),
});

export const retireMember = defineScript('retireMember-4', {
  keys: MEMBER_KEYS,
  args: ['statusStem', 'podId', 'mode', 'nowMs', 'graceMs', 'message'],
  reply: z.enum(['retired', 'absent', 'ended', 'refused']),
});

export const pruneMember = defineScript('pruneMember-3', {
  keys: ['pool', 'members', 'stats'],
  args: ['statusStem', 'podId', 'nowMs', 'graceMs', 'backoffBaseMs', 'backoffMaxMs'],
  // The ended phase, 'missing' (no record), 'live' or 'absent'.
  reply: z.string(),
});

export const setPoolPin = defineScript('setPoolPin-2', {
  keys: ['pool', 'oldPins'],
  args: ['digest', 'pinId', 'owned'],
  reply: yesNo,
});

export const claimStop = defineScript('claimStop-1', { keys: ['retiring'], args: ['podId', 'nowMs', 'resendMs'], reply: yesNo });

export const clearPoolBackoff = defineScript('clearPoolBackoff-1', { keys: ['pool'], args: [], reply: done });
