import { z } from 'zod';
import { defineScript } from '../lua-script';

export const appendEvent = defineScript('appendEvent-2', {
  keys: ['allEvents', 'tenantEvents'],
  args: ['tenant', 'kind', 'resource', 'podEvents', 'data'],
  reply: z.string().regex(/^\d+-\d+$/),
});
