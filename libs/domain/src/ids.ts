import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Time-ordered, url- and queue-safe id: `pod-` + 10 chars of time + 10 random. */
export function newId(prefix: string, now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(10);
  let rand = '';
  for (const b of bytes) rand += ALPHABET[b % 32];
  return `${prefix}-${time}${rand}`;
}

/**
 * A node id is the Kubernetes Node's name: a DNS subdomain (dot-separated DNS
 * labels of lower-case letters, digits and inner "-", like
 * `ip-10-0-0-1.ec2.internal`), here at most 63 characters because it is also a
 * label value (`warmpod.io/node`) and part of a certificate CN (`node:<id>`).
 * It names a queue (`node-<id>`, never a ':' as BullMQ wants), Redis keys,
 * metric labels and URL paths; netns names use the node's bridge instead, so
 * the dots never meet the `wp.<bridge>.<pod>` separator. Every place that
 * takes a node id checks it with this one rule.
 */
const NODE_LABEL = '[a-z0-9](?:[-a-z0-9]*[a-z0-9])?';
export const NODE_ID = new RegExp(`^(?=.{1,63}$)${NODE_LABEL}(?:\\.${NODE_LABEL})*$`);
export const NODE_ID_RULE = 'a DNS subdomain (a-z, 0-9, "-" inside labels, "." between them, at most 63 characters)';

export function isValidNodeId(nodeId: string): boolean {
  return NODE_ID.test(nodeId);
}

export const POD_ID = /^pod-[0-9a-z]{20}$/;
export const CHECKPOINT_ID = /^ckpt-[0-9a-z]{20}$/;
