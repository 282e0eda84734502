import { z } from 'zod';
import { defineScript } from '../lua-script';
import { done, sessionReply, yesNo, type Deregistration } from './replies';

/** What every session report carries before its images (see applyInventory-3.lua). */
const REPORT_ARGS = ['nodeId', 'sessionId', 'nowIso', 'channel', 'runningPodsJson', 'checkpointsJson', 'usageJson', 'change'] as const;
const NODE_IMAGE_KEYS = ['nodes', 'node', 'images'] as const;

export const registerNode = defineScript('registerNode-2', {
  keys: ['nodes', 'node'],
  args: ['nodeId', 'channel', 'change', 'sessionId'],
  restArgs: 'fields',
  reply: done,
});

export const applyInventory = defineScript('applyInventory-3', {
  keys: NODE_IMAGE_KEYS,
  restKeys: 'layers',
  args: REPORT_ARGS,
  restArgs: 'images',
  reply: sessionReply,
});

export const applyDelta = defineScript('applyDelta-3', {
  keys: NODE_IMAGE_KEYS,
  restKeys: 'layers',
  args: [...REPORT_ARGS, 'addedCount'],
  restArgs: 'images',
  reply: sessionReply,
});

export const touchNode = defineScript('touchNode-2', {
  keys: ['nodes', 'node'],
  args: ['nodeId', 'sessionId', 'nowIso'],
  reply: sessionReply,
});

export const addCachedImage = defineScript('addCachedImage-4', {
  keys: [...NODE_IMAGE_KEYS, 'layers'],
  args: ['nodeId', 'digest', 'entry', 'layersJson', 'channel', 'change'],
  reply: yesNo,
});

export const setCordoned = defineScript('setCordoned-2', {
  keys: ['nodes', 'node'],
  args: ['nodeId', 'cordoned', 'channel', 'change'],
  reply: yesNo,
});

export const drainNode = defineScript('drainNode-2', {
  keys: ['nodes', 'node'],
  args: ['nodeId', 'nowIso', 'channel', 'change'],
  reply: yesNo,
});

/** 1 removed, 0 unknown node, -1 stale session, -2 node lost, -3 pods still reserved there. */
export const deregisterNode = defineScript('deregisterNode-5', {
  keys: ['nodes', 'node', 'images', 'usage', 'reservations'],
  args: ['nodeId', 'sessionId', 'channel', 'change'],
  reply: z.union([
    z.literal(1).transform((): Deregistration => 'removed'),
    z.literal(0).transform((): Deregistration => 'unknown-node'),
    z.literal(-1).transform((): Deregistration => 'stale-session'),
    z.literal(-2).transform((): Deregistration => 'node-lost'),
    z.literal(-3).transform((): Deregistration => 'pods-remain'),
  ]),
});

export const markNodeLost = defineScript('markNodeLost-1', {
  keys: ['node'],
  args: ['staleBeforeIso', 'nowIso', 'channel', 'change'],
  reply: yesNo,
});

const count = z.number().int();

export const reserveCapacity = defineScript('reserveCapacity-3', {
  keys: ['node', 'usage', 'reservations'],
  args: ['podId', 'cpuMilli', 'memoryMiB', 'gpu', 'channel', 'nodeId'],
  reply: z
    .tuple([z.union([z.literal(1), z.literal(0), z.literal(-1)]), count, count, count, count])
    .transform(([outcome, cpuMilli, memoryMiB, gpu, rev]) => ({ outcome, cpuMilli, memoryMiB, gpu, rev })),
});

export const releaseCapacity = defineScript('releaseCapacity-2', {
  keys: ['usage', 'reservations'],
  args: ['podId', 'channel', 'nodeId'],
  reply: yesNo,
});
