import { z } from 'zod';
import { defineScript } from '../lua-script';

export const takeRateToken = defineScript('takeRateToken-1', {
  keys: ['bucket'],
  args: ['perSecond', 'burst'],
  reply: z.tuple([z.union([z.literal(0), z.literal(1)]), z.number().int().min(0)]),
});
