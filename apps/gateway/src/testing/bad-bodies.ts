import fc from 'fast-check';
import { bearerToken } from '../auth/tokens';

/**
 * Generators of bad REST input for the bad-input properties: each yields a
 * body that must be refused and the field a 400 must name (`path`: the
 * detail's path is this field or below it).
 */
export interface BadBody {
  body: Record<string, unknown>;
  path: string;
}

type Json = unknown;

/** Any JSON value except those `keep` accepts (the wrong types for a field). */
function jsonExcept(keep: (v: Json) => boolean): fc.Arbitrary<Json> {
  return fc.jsonValue({ maxDepth: 2 }).filter((v) => !keep(v));
}

const isString = (v: Json) => typeof v === 'string';
const isArray = (v: Json) => Array.isArray(v);
const isObject = (v: Json) => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: Json) => typeof v === 'number';

/** Strings that are not label keys (too long, bad characters, empty). */
const badLabelKey = fc.oneof(
  fc.constant(''),
  fc.stringMatching(/^[a-z]{64,80}$/),
  fc.string({ minLength: 1, maxLength: 20 }).map((s) => `${s}!`),
  fc.string({ minLength: 1, maxLength: 10 }).map((s) => `-${s}`),
);
const badLabelValue: fc.Arbitrary<Json> = fc.oneof(
  fc.stringMatching(/^[a-z]{64,80}$/),
  fc.string({ minLength: 1, maxLength: 10 }).map((s) => `${s} x`),
  jsonExcept(isString),
);

/** A label map with one bad entry among good ones, or too many entries, or not a map. */
export const badLabels: fc.Arbitrary<Json> = fc.oneof(
  fc.tuple(badLabelKey, fc.stringMatching(/^[a-z0-9]{1,10}$/)).map(([k, v]) => ({ zone: 'a', [k]: v })),
  fc.tuple(fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/), badLabelValue).map(([k, v]) => ({ [k]: v })),
  fc.integer({ min: 65, max: 90 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']))),
  jsonExcept(isObject),
);

const badImage: fc.Arbitrary<Json> = fc.oneof(
  jsonExcept(isString),
  fc.constant(''),
  fc.string({ maxLength: 20 }).map((s) => `team/${s} app:v1`),
  fc.stringMatching(/^[A-Z][a-zA-Z]{0,8}\/app:v1$/),
  fc.stringMatching(/^[0-9a-f]{1,63}$/).map((h) => `team/app@sha256:${h}`),
  fc.string({ minLength: 1, maxLength: 10 }).map((s) => `team/app:${s}\n`),
);

const badArgv: fc.Arbitrary<Json> = fc.oneof(
  jsonExcept(isArray),
  fc.array(jsonExcept(isString), { minLength: 1, maxLength: 3 }).map((bad) => ['sh', ...bad]),
  fc.integer({ min: 257, max: 300 }).map((n) => Array.from({ length: n }, () => 'x')),
  fc.integer({ min: 4097, max: 5000 }).map((n) => ['x'.repeat(n)]),
);

const badEnv: fc.Arbitrary<Json> = fc.oneof(
  jsonExcept(isObject),
  fc.stringMatching(/^[0-9][A-Z_]{0,8}$|^[A-Z]+[-=. ][A-Z]*$/).map((k) => ({ OK: '1', [k]: 'v' })),
  jsonExcept(isString).map((v) => ({ NAME: v })),
  fc.integer({ min: 257, max: 280 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`V${i}`, '1']))),
);

const badPort: fc.Arbitrary<Json> = fc.oneof(
  fc.integer({ max: 0 }),
  fc.integer({ min: 65_536 }),
  fc.double({ min: 1.01, max: 65_534.99, noNaN: true }).filter((d) => !Number.isInteger(d)),
  jsonExcept(isNumber),
);
const badPorts: fc.Arbitrary<Json> = fc.oneof(
  jsonExcept(isArray),
  badPort.map((p) => [80, p]),
  fc.integer({ min: 1, max: 65_535 }).map((p) => [p, p]),
  fc.integer({ min: 33, max: 40 }).map((n) => Array.from({ length: n }, (_, i) => i + 1)),
);

const goodResources = { cpu: 0.5, memoryMiB: 128, gpu: 0 };
const badResources: fc.Arbitrary<Json> = fc.oneof(
  jsonExcept(isObject),
  fc.oneof(fc.double({ max: 0, noNaN: true }), fc.double({ min: 64.001, noNaN: true }), jsonExcept(isNumber)).map((cpu) => ({
    ...goodResources,
    cpu,
  })),
  fc
    .oneof(fc.integer({ max: 3 }), fc.integer({ min: 262_145 }), fc.double({ min: 4.1, max: 1000, noNaN: true }), jsonExcept(isNumber))
    .filter((m) => !(typeof m === 'number' && Number.isInteger(m) && m >= 4 && m <= 262_144))
    .map((memoryMiB) => ({ ...goodResources, memoryMiB })),
  fc.oneof(fc.integer({ max: -1 }), fc.integer({ min: 9 }), jsonExcept(isNumber)).map((gpu) => ({ ...goodResources, gpu })),
  fc.stringMatching(/^[a-z]{1,8}$/).map((k) => ({ ...goodResources, [`x${k}`]: 1 })),
  fc.constant({ memoryMiB: 128 }),
);

const badCheckpoint: fc.Arbitrary<Json> = fc.oneof(
  jsonExcept(isObject),
  jsonExcept((v) => typeof v === 'boolean').map((enabled) => ({ enabled })),
  fc.constant({ enabled: true }),
  fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 65_536 })).map((port) => ({ enabled: true, condition: { type: 'tcp', port } })),
  fc.string({ maxLength: 10 }).map((type) => ({ enabled: true, condition: { type: `x${type}`, port: 80 } })),
  fc.string({ maxLength: 10 }).map((p) => ({ enabled: true, condition: { type: 'file', path: `rel/${p}` } })),
  fc.constant({ enabled: true, condition: { type: 'exec', command: [] } }),
  fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 3601 })).map((timeoutSeconds) => ({ enabled: false, timeoutSeconds })),
);

const badPoolName: fc.Arbitrary<Json> = fc.oneof(
  jsonExcept(isString),
  fc.constant(''),
  fc.stringMatching(/^[A-Z][a-z]{0,8}$/),
  fc.stringMatching(/^[a-z]{64,80}$/),
  fc.string({ minLength: 1, maxLength: 8 }).map((s) => `${s}_`),
);

/** Fields of a pod request and what is wrong with each. */
const POD_FIELDS: Record<string, fc.Arbitrary<Json>> = {
  image: badImage,
  command: badArgv,
  args: badArgv,
  env: badEnv,
  ports: badPorts,
  resources: badResources,
  nodeSelector: badLabels,
  labels: badLabels,
  restartPolicy: fc.oneof(
    jsonExcept(isString),
    fc.string().filter((s) => !['Never', 'OnFailure', 'Always'].includes(s)),
  ),
  pool: badPoolName,
  checkpoint: badCheckpoint,
};

/** A field name none of `known` has. */
function unknownField(known: string[]): fc.Arbitrary<string> {
  return fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !known.includes(k) && k !== '__proto__');
}

/** One bad field (or an unknown one) in an otherwise valid body. */
function oneBadField(valid: Record<string, unknown>, fields: Record<string, fc.Arbitrary<Json>>): fc.Arbitrary<BadBody> {
  const bad = Object.entries(fields).map(([field, value]) => value.map((v) => ({ body: { ...valid, [field]: v }, path: field })));
  const unknown = fc
    .tuple(unknownField(Object.keys(fields)), fc.jsonValue({ maxDepth: 1 }))
    .map(([field, v]) => ({ body: { ...valid, [field]: v }, path: field }));
  return fc.oneof(...bad, unknown);
}

export function badPodRequest(image: string): fc.Arbitrary<BadBody> {
  return oneBadField({ image }, POD_FIELDS);
}

export function badPinRequest(image: string): fc.Arbitrary<BadBody> {
  return oneBadField({ image }, { image: badImage, nodeSelector: badLabels });
}

const badPoolSize: fc.Arbitrary<Json> = fc.oneof(
  fc.integer({ max: -1 }),
  fc.integer({ min: 257 }),
  fc.double({ min: 0.1, max: 255.9, noNaN: true }).filter((d) => !Number.isInteger(d)),
  jsonExcept(isNumber),
);

export function badPoolRequest(image: string): fc.Arbitrary<BadBody> {
  const template: fc.Arbitrary<Json> = fc.oneof(
    jsonExcept(isObject),
    // Only the process-shaping fields belong in a template: the rest are unknown there.
    fc.constantFrom('image', 'labels', 'pool', 'checkpoint', 'nodeSelector').map((k) => ({ [k]: k === 'image' ? image : {} })),
    oneBadField({}, { command: badArgv, args: badArgv, env: badEnv, ports: badPorts, resources: badResources }).map((b) => b.body),
  );
  return oneBadField(
    { name: 'fuzz-pool', image, size: 1, podTemplate: {} },
    { name: badPoolName, image: badImage, size: badPoolSize, podTemplate: template, nodeSelector: badLabels },
  );
}

export function badPoolPatch(): fc.Arbitrary<BadBody> {
  return fc.oneof(
    oneBadField({ size: 1 }, { size: badPoolSize, image: badImage, repin: jsonExcept((v) => v === true || v === undefined) }),
    fc.constant({ body: {}, path: '(body)' }),
  );
}

/** Any JSON at all as a body, objects included (most lack a valid `image`). */
export const anyJson: fc.Arbitrary<Json> = fc.jsonValue({ maxDepth: 3 });

/** Text that is not JSON. */
export const notJson: fc.Arbitrary<string> = fc.string({ maxLength: 60 }).filter((s) => {
  try {
    JSON.parse(s);
    return false;
  } catch {
    return true;
  }
});

/** Content types the gateway does not take (anything but application/json). */
export const otherContentType: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml'),
  fc.stringMatching(/^[a-z]{1,10}\/[a-z0-9.+-]{1,15}$/).filter((t) => !t.startsWith('application/json')),
);

/** Idempotency-Key values that are not 1-128 of [A-Za-z0-9._:-] but can travel in a header. */
export const badIdempotencyKey: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._:-]{129,160}$/),
  fc.string({ minLength: 1, maxLength: 20, unit: fc.constantFrom(...' !"#$%&\'()*+,/;<=>?@[\\]^`{|}~'.split('')) }),
  fc.tuple(fc.stringMatching(/^[A-Za-z0-9]{1,10}$/), fc.constantFrom(' ', '/', '=', '+', 'é', '"')).map(([a, b]) => `${a}${b}${a}`),
);

/** Authorization headers that carry none of the known tokens (near misses of `known` included). */
export function badAuthorization(known: string[]): fc.Arbitrary<string | null> {
  const nearMiss = fc.tuple(fc.constantFrom(...known), fc.nat(), fc.constantFrom('drop', 'flip', 'extend', 'upper')).map(([t, i, how]) => {
    const at = i % t.length;
    if (how === 'drop') return t.slice(0, at) + t.slice(at + 1);
    if (how === 'flip') return t.slice(0, at) + (t[at] === 'x' ? 'y' : 'x') + t.slice(at + 1);
    if (how === 'extend') return `${t}x`;
    return t.toUpperCase();
  });
  const token = fc.oneof(nearMiss, fc.stringMatching(/^[\x21-\x7e]{1,40}$/), fc.constant(''));
  return fc
    .oneof(
      token.map((t) => `Bearer ${t}`),
      fc.tuple(fc.constantFrom('Basic', 'Token', 'Bearer:', 'bearer\t', 'Digest', ''), token).map(([s, t]) => `${s} ${t}`),
      fc.constantFrom(...known).map((t) => `Basic ${Buffer.from(`${t}:`).toString('base64')}`),
      fc.constantFrom(...known).map((t) => `Bearer ${t} extra`),
      fc.constant(null),
    )
    .filter((h) => {
      const token = bearerToken(h ?? undefined);
      return token === undefined || !known.includes(token);
    });
}
