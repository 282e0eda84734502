import { z } from 'zod';

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
