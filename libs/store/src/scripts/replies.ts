import { z } from 'zod';
import { QUOTA_NAMES, type QuotaRefusal } from '@warmpod/domain';

/** Reply shapes shared by several scripts. */

/** A script that always answers 1. */
export const done = z.literal(1);

/** 1 for yes, 0 for no. */
export const yesNo = z.union([z.literal(0), z.literal(1)]).transform((n) => n === 1);

/** `{applied 1|0, phase before or ''}` of the pod transitions. */
export const transitionReply = z
  .tuple([z.union([z.literal(0), z.literal(1)]), z.string()])
  .transform(([applied, previous]) => ({ applied: applied === 1, previous }));

/** Outcome of a write made within an agent session. */
export type SessionWrite = 'applied' | 'unknown-node' | 'stale-session' | 'node-lost';

/** How a deregistration ended: removed, or why not (`pods-remain`: the node still holds reservations). */
export type Deregistration = 'removed' | 'unknown-node' | 'stale-session' | 'node-lost' | 'pods-remain';

/** A session-scoped node write: 1 applied, 0 unknown node, -1 stale session, -2 node lost. */
export const sessionReply = z.union([
  z.literal(1).transform((): SessionWrite => 'applied'),
  z.literal(0).transform((): SessionWrite => 'unknown-node'),
  z.literal(-1).transform((): SessionWrite => 'stale-session'),
  z.literal(-2).transform((): SessionWrite => 'node-lost'),
]);

/** What an idempotency key holds: `bodyHash podId`. */
export const idempotencyHeld = z
  .string()
  .regex(/^\S+ \S+$/)
  .transform((held) => {
    const [bodyHash = '', podId = ''] = held.split(' ');
    return { bodyHash, podId };
  });

/** `{'over-quota', name, limit, used, requested}`: a quota the request would pass (see tenantUse.lua). */
export const overQuota = z
  .tuple([z.literal('over-quota'), z.enum(QUOTA_NAMES), z.number(), z.number(), z.number()])
  .transform(([, quota, limit, used, requested]) => ({ kind: 'over-quota' as const, refusal: { quota, limit, used, requested } }));

export type OverQuota = { kind: 'over-quota'; refusal: QuotaRefusal };
