import { z } from 'zod';
import { defineScript } from '../lua-script';

const count = z.number().int().nonnegative();

export const tenantUse = defineScript('tenantUse-4', {
  keys: ['quotaPods', 'tenantPins', 'tenantPools', 'tenantCheckpoints'],
  args: ['statusStem', 'pinStem', 'poolStem', 'checkpointStem', 'lostBeforeIso'],
  reply: z
    .tuple([count, count, count, count, count, count, count, count, count])
    .transform(([pods, cpuMilli, memoryMiB, gpu, pins, pinBytes, poolPods, checkpoints, checkpointBytes]) => ({
      pods,
      cpuMilli,
      memoryMiB,
      gpu,
      pins,
      pinBytes,
      poolPods,
      checkpoints,
      checkpointBytes,
    })),
});
