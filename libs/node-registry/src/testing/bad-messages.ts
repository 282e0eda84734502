import fc from 'fast-check';
import type { InventoryMessage, RegisterRequest } from '../messages';
import { digest, registration } from './int-fixture';

/**
 * Generators of bad node registry messages for the bad-input properties.
 * Every value survives protobuf encoding as sent (doubles, signed int64,
 * strings), so what reaches the server is what was generated; `path` is the
 * field the refusal must name.
 */
export interface BadMessage<T> {
  message: T;
  path: string;
}

const longText = (min: number) => fc.integer({ min, max: min + 200 }).map((n) => 'x'.repeat(n));
const notLabelKey = fc.oneof(
  fc.stringMatching(/^[a-z]{64,90}$/),
  fc.string({ minLength: 1, maxLength: 12 }).map((s) => `${s}!`),
  fc.constant(''),
);

/** Labels as an agent could send them: too many, a key too long or malformed, a value too long or malformed. */
export const badLabels: fc.Arbitrary<Record<string, string>> = fc.oneof(
  fc.integer({ min: 65, max: 200 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']))),
  notLabelKey.map((k) => ({ zone: 'a', [k]: 'v' })),
  fc
    .oneof(
      fc.stringMatching(/^[a-z]{64,300}$/),
      fc.string({ minLength: 1, maxLength: 12 }).map((s) => `${s} !`),
    )
    .map((v) => ({ zone: v })),
);

type Registration = RegisterRequest;
type Mutation = (r: Registration) => fc.Arbitrary<BadMessage<Registration>>;

const at =
  (path: string, values: fc.Arbitrary<unknown>, apply: (r: Registration, v: never) => Registration): Mutation =>
  (r) =>
    values.map((v) => ({ message: apply(r, v as never), path }));

const REGISTRATION_MUTATIONS: Mutation[] = [
  at(
    'nodeId',
    fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Z_][a-z]{0,10}$/), fc.stringMatching(/^[a-z]{64,80}$/)),
    (r, nodeId: string) => ({ ...r, nodeId }),
  ),
  at('labels', badLabels, (r, labels: Record<string, string>) => ({ ...r, labels })),
  at('capacity.cpu', fc.oneof(fc.double({ max: 0, noNaN: true }), fc.double({ min: 4096.5, noNaN: true })), (r, cpu: number) => ({
    ...r,
    capacity: { ...r.capacity, cpu },
  })),
  at(
    'capacity.memoryMib',
    fc.oneof(fc.integer({ min: -1e9, max: 0 }), fc.integer({ min: 64 * 1024 * 1024 + 1, max: 2 ** 40 })),
    (r, memoryMib: number) => ({ ...r, capacity: { ...r.capacity, memoryMib } }),
  ),
  at('capacity', fc.constant(null), (r) => ({ ...r, capacity: null as never })),
  at('capabilities', fc.constant(null), (r) => ({ ...r, capabilities: null as never })),
  at(
    'gpus',
    fc.oneof(
      fc
        .integer({ min: 1, max: 64 })
        .filter((n) => n !== 2)
        .map((count) => [{ model: 'sim', count }]),
      fc.constant([{ model: '', count: 2 }]),
      longText(129).map((model) => [{ model, count: 2 }]),
      fc.integer({ min: 17, max: 40 }).map((n) => Array.from({ length: n }, () => ({ model: 'm', count: 1 }))),
    ),
    (r, gpus: Registration['gpus']) => ({ ...r, gpus }),
  ),
  at('capabilities.kernel', longText(257), (r, kernel: string) => ({ ...r, capabilities: { ...r.capabilities, kernel } })),
  at('capabilities.criuReason', longText(1025), (r, criuReason: string) => ({ ...r, capabilities: { ...r.capabilities, criuReason } })),
  at('capabilities.runtime', fc.oneof(fc.constant(''), longText(65)), (r, runtime: string) => ({
    ...r,
    capabilities: { ...r.capabilities, runtime },
  })),
  at(
    'capabilities.cpuFlags',
    fc.oneof(
      fc.string({ minLength: 1, maxLength: 10 }).map((f) => ['avx2', `${f} ${f}`]),
      fc.integer({ min: 1025, max: 1100 }).map((n) => Array.from({ length: n }, (_, i) => `f${i}`)),
    ),
    (r, cpuFlags: string[]) => ({ ...r, capabilities: { ...r.capabilities, cpuFlags } }),
  ),
  at(
    'capabilities.criuMode',
    fc.string({ minLength: 1, maxLength: 12 }).filter((m) => !['breakpoints', 'no-breakpoints'].includes(m)),
    (r, criuMode: string) => ({ ...r, capabilities: { ...r.capabilities, criuMode: criuMode as never } }),
  ),
  at(
    'capabilities.criuNetworkLock',
    fc.string({ minLength: 1, maxLength: 12 }).filter((m) => !['nftables', 'iptables'].includes(m)),
    (r, criuNetworkLock: string) => ({ ...r, capabilities: { ...r.capabilities, criuNetworkLock: criuNetworkLock as never } }),
  ),
  at(
    'agentUrl',
    fc.oneof(
      fc.constantFrom('', 'file:///etc/passwd', 'ftp://x', 'javascript:alert(1)', 'not a url'),
      fc.string({ maxLength: 30 }).filter((u) => !URL.canParse(u)),
      longText(2049).map((p) => `http://127.0.0.1/${p}`),
    ),
    (r, agentUrl: string) => ({ ...r, agentUrl }),
  ),
];

/** A valid registration of `nodeId` with one field made bad. */
export function badRegistration(nodeId: string): fc.Arbitrary<BadMessage<Registration>> {
  return fc.oneof(...REGISTRATION_MUTATIONS.map((m) => m(registration(nodeId))));
}

export const emptyInventory: InventoryMessage = { images: [], runningPods: [], checkpoints: [], usage: null };
const goodImage = { digest: digest('a'), sizeBytes: 10, layers: [{ digest: digest('b'), sizeBytes: 5 }] };
const notDigest = fc.oneof(
  fc.constantFrom('', 'latest', `sha256:${'A'.repeat(64)}`, `sha512:${'a'.repeat(64)}`),
  fc.stringMatching(/^sha256:[0-9a-f]{1,63}$/),
  fc.string({ maxLength: 20 }),
);
const negative = fc.integer({ min: -(2 ** 40), max: -1 });
const notContainerId = fc.oneof(
  fc.constant(''),
  fc.stringMatching(/^[a-z]{129,150}$/),
  fc.string({ minLength: 1, maxLength: 10 }).map((s) => `-${s}`),
  fc.string({ minLength: 1, maxLength: 10 }).map((s) => `a ${s}/`),
);

/** A full inventory with one bad part: what its first report's refusal must name. */
export const badInventory: fc.Arbitrary<BadMessage<InventoryMessage>> = fc.oneof(
  notDigest.map((d) => ({ message: { ...emptyInventory, images: [{ ...goodImage, digest: d }] }, path: 'inventory.images[0].digest' })),
  negative.map((n) => ({
    message: { ...emptyInventory, images: [{ ...goodImage, sizeBytes: n }] },
    path: 'inventory.images[0].sizeBytes',
  })),
  notDigest.map((d) => ({
    message: { ...emptyInventory, images: [{ ...goodImage, layers: [{ digest: d, sizeBytes: 1 }] }] },
    path: 'inventory.images[0].layers[0].digest',
  })),
  fc.integer({ min: 1001, max: 1100 }).map((n) => ({
    message: { ...emptyInventory, images: [{ ...goodImage, layers: Array.from({ length: n }, () => goodImage.layers[0]!) }] },
    path: 'inventory.images[0].layers',
  })),
  notContainerId.map((id) => ({ message: { ...emptyInventory, runningPods: ['pod-ok', id] }, path: 'inventory.runningPods[1]' })),
  fc
    .oneof(
      fc.constant({ id: '', key: 'k', state: 's', sizeBytes: 1 }),
      longText(129).map((id) => ({ id, key: 'k', state: 's', sizeBytes: 1 })),
      longText(513).map((key) => ({ id: 'c', key, state: 's', sizeBytes: 1 })),
      longText(65).map((state) => ({ id: 'c', key: 'k', state, sizeBytes: 1 })),
      negative.map((sizeBytes) => ({ id: 'c', key: 'k', state: 's', sizeBytes })),
    )
    .map((c) => ({ message: { ...emptyInventory, checkpoints: [c] }, path: 'inventory.checkpoints[0]' })),
  fc
    .oneof(
      fc.double({ max: -0.001, noNaN: true }).map((cpu) => ({ cpu, memoryMib: 0, gpu: 0 })),
      fc.double({ min: 4096.5, noNaN: true }).map((cpu) => ({ cpu, memoryMib: 0, gpu: 0 })),
      negative.map((memoryMib) => ({ cpu: 0, memoryMib, gpu: 0 })),
      fc.integer({ min: -1000, max: -1 }).map((gpu) => ({ cpu: 0, memoryMib: 0, gpu })),
    )
    .map((usage) => ({ message: { ...emptyInventory, usage }, path: 'inventory.usage' })),
);

/** A varint, as protobuf writes one. */
function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 127) {
    out.push((v & 127) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** One field no message here defines (numbers 100-5000), well-formed for its wire type. */
export const unknownField: fc.Arbitrary<Buffer> = fc
  .tuple(fc.integer({ min: 100, max: 5000 }), fc.constantFrom(0, 1, 2, 5), fc.uint8Array({ maxLength: 40 }))
  .map(([no, wireType, bytes]) => {
    const tag = varint(no * 8 + wireType);
    if (wireType === 0) return Buffer.from([...tag, ...varint(bytes.length * 1000 + (bytes[0] ?? 0))]);
    if (wireType === 1) return Buffer.from([...tag, ...Buffer.alloc(8, bytes[0] ?? 0)]);
    if (wireType === 5) return Buffer.from([...tag, ...Buffer.alloc(4, bytes[0] ?? 0)]);
    return Buffer.from([...tag, ...varint(bytes.length), ...bytes]);
  });

/** An unknown field that does not decode: an invalid wire type, or a length past the end. */
export const malformedField: fc.Arbitrary<Buffer> = fc
  .tuple(fc.integer({ min: 100, max: 5000 }), fc.constantFrom(6, 7, 2), fc.uint8Array({ maxLength: 10 }))
  .map(([no, wireType, bytes]) =>
    wireType === 2
      ? Buffer.from([...varint(no * 8 + 2), ...varint(bytes.length + 5), ...bytes])
      : Buffer.from([...varint(no * 8 + wireType), ...bytes]),
  );
