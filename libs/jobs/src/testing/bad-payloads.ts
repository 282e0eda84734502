import fc from 'fast-check';
import { newId } from '@warmpod/domain';
import { jobNamesOn, type JobName, type QueueKind } from '../catalog';

/**
 * Generators of bad job payloads for the bad-input properties: a valid
 * payload of each job with one field made bad, missing or unknown, or no
 * object at all. `names` is what the refusal must mention (a field path or
 * the unknown key); empty for a payload that is not an object.
 */
export interface BadPayload {
  name: JobName;
  data: unknown;
  names: string[];
}

const DIGEST = `sha256:${'c'.repeat(64)}`;

/** A valid payload of each job. */
export function validPayload(name: JobName): Record<string, unknown> {
  const podId = newId('pod');
  const requestId = 'req-fuzz';
  const checkpointId = newId('ckpt');
  switch (name) {
    case 'schedule-pod':
    case 'start-pod':
      return { podId, requestId, generation: 1 };
    case 'stop-pod':
      return { podId, requestId, reason: 'user' };
    case 'pull-image':
      return { digest: DIGEST, requestId, pinned: `127.0.0.1:5000/team/app@${DIGEST}` };
    case 'checkpoint-pod':
      return { podId, requestId, checkpointId };
    case 'delete-checkpoint':
      return { checkpointId, requestId };
    case 'drain-node':
      return { requestId };
  }
}

const notString = fc.jsonValue({ maxDepth: 1 }).filter((v) => typeof v !== 'string');
const BAD_VALUES: Record<string, fc.Arbitrary<unknown>> = {
  podId: fc.oneof(notString, fc.string({ maxLength: 30 }), fc.stringMatching(/^pod-[0-9A-Z]{20}$/), fc.constant(newId('ckpt'))),
  requestId: fc.oneof(
    notString,
    fc.constant(''),
    fc.integer({ min: 129, max: 300 }).map((n) => 'r'.repeat(n)),
  ),
  generation: fc.oneof(
    fc.integer({ max: -1 }),
    fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d)),
    fc.jsonValue({ maxDepth: 1 }).filter((v) => typeof v !== 'number' && v !== null),
  ),
  reason: fc.oneof(
    notString,
    fc.string({ maxLength: 12 }).filter((r) => r !== 'user' && r !== 'reconcile'),
  ),
  digest: fc.oneof(notString, fc.string({ maxLength: 20 }), fc.stringMatching(/^sha256:[0-9a-f]{10,63}$/)),
  pinned: fc.oneof(
    notString,
    fc.constantFrom('127.0.0.1:5000/team/app:latest', `127.0.0.1:5000/team/app@sha256:${'d'.repeat(64)}`, 'team app', ''),
    fc.integer({ min: 601, max: 700 }).map((n) => `r/${'a'.repeat(n)}@${DIGEST}`),
  ),
  checkpointId: fc.oneof(notString, fc.string({ maxLength: 30 }), fc.constant(newId('pod'))),
};

/** One bad input for job `name`. */
export function badPayload(name: JobName): fc.Arbitrary<BadPayload> {
  const valid = validPayload(name);
  const fields = Object.keys(valid);
  const oneBad = fields.map((field) => BAD_VALUES[field]!.map((v) => ({ name, data: { ...valid, [field]: v }, names: [field] })));
  const required = fields.filter((f) => f !== 'generation');
  const missing = fc.constantFrom(...required).map((field) => {
    const data: Record<string, unknown> = { ...valid };
    delete data[field];
    return { name, data, names: [field] };
  });
  const unknown = fc
    .tuple(fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,12}$/), fc.jsonValue({ maxDepth: 1 }))
    .filter(([key]) => !fields.includes(key) && !['generation', '__proto__', 'constructor'].includes(key))
    .map(([key, v]) => ({ name, data: { ...valid, [key]: v }, names: [key] }));
  const notObject = fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v));
  return fc.oneof(
    ...oneBad,
    missing,
    unknown,
    notObject.map((data) => ({ name, data, names: [] })),
  );
}

/** A bad input for any job of a queue kind. */
export function badPayloadOn(kind: QueueKind): fc.Arbitrary<BadPayload> {
  return fc.oneof(...jobNamesOn(kind).map(badPayload));
}
