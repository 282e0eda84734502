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

export const POD_ID = /^pod-[0-9a-z]{20}$/;
export const CHECKPOINT_ID = /^ckpt-[0-9a-z]{20}$/;
