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
 * A node id is a DNS label (lower-case letters, digits, "-", at most 63): it
 * names a queue (`node-<id>`), a Redis key, a label value and a network
 * namespace (`<node>.<pod>`, so never a dot). Every place that takes a node
 * id checks it with this one rule.
 */
export const NODE_ID = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const NODE_ID_RULE = 'a DNS label (a-z, 0-9, "-", at most 63 characters)';

export function isValidNodeId(nodeId: string): boolean {
  return NODE_ID.test(nodeId);
}

export const POD_ID = /^pod-[0-9a-z]{20}$/;
export const CHECKPOINT_ID = /^ckpt-[0-9a-z]{20}$/;
