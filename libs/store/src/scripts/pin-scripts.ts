import { z } from 'zod';
import { defineScript } from '../lua-script';
import { overQuota, yesNo } from './replies';

const PIN_KEYS = ['pin', 'tenantPins', 'activePins', 'supersededPins'] as const;

export const createPin = defineScript('createPin-4', {
  keys: PIN_KEYS,
  args: ['id', 'json', 'createdMs', 'refField', 'digest', 'pinStem', 'channel', 'quota'],
  reply: z.union([
    z.tuple([z.literal('existing'), z.string().min(1)]).transform(([, activeId]) => ({ kind: 'existing' as const, activeId })),
    z.tuple([z.literal('created'), z.string()]).transform(([, superseded]) => ({ kind: 'created' as const, superseded })),
    overQuota,
  ]),
});

export const removePin = defineScript('removePin-4', { keys: PIN_KEYS, args: ['id', 'refField', 'channel'], reply: yesNo });
