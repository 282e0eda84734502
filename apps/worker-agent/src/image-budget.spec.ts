import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '@warmpod/observability';
import {
  footprint,
  formatBytes,
  ImageBudget,
  ImageBudgetError,
  planRoom,
  UNPACK_RATIO,
  unpackRatio,
  type BudgetImage,
  type BudgetLayer,
  type RoomRequest,
} from './image-budget';

const MiB = 1024 * 1024;
/** A layer taking `mib` on disk: a quarter in its compressed blob, three quarters unpacked. */
const layer = (name: string, mib: number): BudgetLayer => ({
  digest: `sha256:${name.padEnd(64, '0')}`,
  sizeBytes: (mib * MiB) / 4,
  diffId: `sha256:${name.padEnd(64, 'd')}`,
  unpackedBytes: (mib * MiB * 3) / 4,
});
const BASE = layer('ba5e', 2);

/** An image of a base layer plus one of its own, with 1 KiB of manifest and config (`mib` on disk besides the base). */
function image(name: string, mib: number, base = true): BudgetImage {
  const layers = [...(base ? [BASE] : []), layer(name, mib)];
  return { digest: `sha256:${name.padStart(64, 'f')}`, sizeBytes: layers.reduce((s, l) => s + l.sizeBytes, 1024), layers };
}

const A = image('a', 10);
const B = image('b', 10);
const C = image('c', 10);
const D = image('d', 10);

function request(over: Partial<RoomRequest>): RoomRequest {
  return { budgetBytes: 100 * MiB, cached: [], incoming: D, inflight: [], held: new Set(), lastUse: () => 0, ...over };
}

describe('footprint', () => {
  test('counts a shared layer once and every image its own manifest and config', () => {
    assert.equal(footprint([A]), 12 * MiB + 1024);
    assert.equal(footprint([A, B]), 22 * MiB + 2048);
    assert.equal(footprint([A, A]), footprint([A]));
    assert.equal(footprint([]), 0);
  });

  test('a layer counts what it takes unpacked on disk, plus the blob kept beside it, not its compressed size alone', () => {
    // A 200 MiB gzip layer that unpacked to 600 MiB.
    const fat: BudgetLayer = {
      digest: `sha256:${'fa7'.padEnd(64, '0')}`,
      sizeBytes: 200 * MiB,
      diffId: `sha256:${'fa7'.padEnd(64, 'd')}`,
      unpackedBytes: 600 * MiB,
    };
    const img: BudgetImage = { digest: `sha256:${'fa7'.padStart(64, 'f')}`, sizeBytes: 200 * MiB + 1024, layers: [fat] };
    assert.equal(footprint([img]), 800 * MiB + 1024);
  });

  test('a layer not unpacked yet is estimated from its blob; once measured on the node, the measure wins', () => {
    const blobOnly = { digest: BASE.digest, sizeBytes: BASE.sizeBytes };
    const incoming: BudgetImage = { digest: `sha256:${'e'.padStart(64, 'f')}`, sizeBytes: BASE.sizeBytes + 1024, layers: [blobOnly] };
    assert.equal(footprint([incoming]), BASE.sizeBytes * (1 + UNPACK_RATIO.default) + 1024);
    assert.equal(footprint([incoming], 1.5), BASE.sizeBytes * 2.5 + 1024);
    // A holds BASE unpacked: the incoming image adds only its own manifest and config, in either order.
    assert.equal(footprint([A, incoming]), footprint([A]) + 1024);
    assert.equal(footprint([incoming, A]), footprint([A]) + 1024);
  });

  test('two blobs of one diff_id (a gzip and a zstd build of one layer) share one unpacked directory', () => {
    const zstd: BudgetLayer = { ...BASE, digest: `sha256:${'25d'.padEnd(64, '0')}` };
    const Z: BudgetImage = { digest: `sha256:${'25d'.padStart(64, 'f')}`, sizeBytes: zstd.sizeBytes + 1024, layers: [zstd] };
    assert.equal(footprint([A, Z]), footprint([A]) + zstd.sizeBytes + 1024);
  });
});

describe('planRoom', () => {
  test('nothing is evicted when the image fits', () => {
    assert.deepEqual(planRoom(request({ cached: [A, B] })), { fits: true, evict: [] });
  });

  test('evicts least recently used first, and only as many as needed', () => {
    const uses: Record<string, number> = { [A.digest]: 300, [B.digest]: 100, [C.digest]: 200 };
    // A, B, C and D take 42 MiB; 35 MiB leaves room once one 10 MiB image goes.
    const plan = planRoom(request({ budgetBytes: 35 * MiB, cached: [A, B, C], lastUse: (d) => uses[d] ?? 0 }));
    assert.deepEqual(plan, { fits: true, evict: [B.digest] });
    const two = planRoom(request({ budgetBytes: 25 * MiB, cached: [A, B, C], lastUse: (d) => uses[d] ?? 0 }));
    assert.deepEqual(two, { fits: true, evict: [B.digest, C.digest] });
  });

  test('a never-used image goes before a used one', () => {
    const plan = planRoom(request({ budgetBytes: 35 * MiB, cached: [A, B, C], lastUse: (d) => (d === C.digest ? 0 : 5) }));
    assert.deepEqual(plan, { fits: true, evict: [C.digest] });
  });

  test('never evicts a held digest (in use or pinned), nor one being pulled', () => {
    const plan = planRoom(request({ budgetBytes: 35 * MiB, cached: [A, B, C], held: new Set([A.digest, B.digest]), inflight: [] }));
    assert.deepEqual(plan, { fits: true, evict: [C.digest] });
    const landing = planRoom(request({ budgetBytes: 40 * MiB, cached: [A, B], inflight: [C], held: new Set([A.digest]) }));
    assert.deepEqual(landing, { fits: true, evict: [B.digest] }, 'C is in flight: it counts and stays');
  });

  test('evicting an image whose layers others share frees only its own layer', () => {
    // A and B share BASE: evicting A frees 10 MiB, not 12.
    const plan = planRoom(request({ budgetBytes: 24 * MiB, cached: [A, B], held: new Set([B.digest]) }));
    assert.deepEqual(plan, { fits: true, evict: [A.digest] });
  });

  test('when even evicting every candidate is not enough, nothing is evicted and the reason says why', () => {
    const plan = planRoom(request({ budgetBytes: 30 * MiB, cached: [A, B, C], held: new Set([A.digest, B.digest]) }));
    assert.equal(plan.fits, false);
    if (plan.fits) return;
    assert.equal(plan.needBytes, footprint([D]));
    assert.equal(plan.heldBytes, footprint([A, B]));
    assert.equal(
      plan.reason,
      `image needs ${formatBytes(footprint([D]))}, budget 30.0 MiB, ${formatBytes(footprint([A, B]))} held by running or pinned images`,
    );
  });

  test("a layer not unpacked yet is estimated at the node's measured ratio, within bounds", () => {
    // The helper's layers unpack to 3 times their blob.
    assert.equal(unpackRatio([A, B]), 3);
    assert.equal(unpackRatio([]), UNPACK_RATIO.default);
    const packed = (ratio: number): BudgetImage => ({
      digest: `sha256:${String(ratio).padStart(64, 'f')}`,
      sizeBytes: MiB,
      layers: [{ digest: `sha256:${String(ratio).padEnd(64, '0')}`, sizeBytes: MiB, unpackedBytes: ratio * MiB }],
    });
    assert.equal(unpackRatio([packed(0.5)]), UNPACK_RATIO.min, 'never below the blob (already compressed data)');
    assert.equal(unpackRatio([packed(10)]), UNPACK_RATIO.max);
    // 12 MiB of blob not unpacked yet: at 3x (what A, B and C measured) 48 MiB on disk, at the default 2x 36 MiB.
    // A, B and C take 32 MiB: 80 MiB does not fit 72, so A goes (at 2x, 68 MiB would have fitted).
    const fresh: BudgetImage = {
      digest: `sha256:${'f7e54'.padStart(64, 'f')}`,
      sizeBytes: 12 * MiB,
      layers: [{ digest: `sha256:${'f7e54'.padEnd(64, '0')}`, sizeBytes: 12 * MiB }],
    };
    const plan = planRoom(request({ budgetBytes: 72 * MiB, cached: [A, B, C], incoming: fresh, lastUse: (d) => (d === A.digest ? 0 : 5) }));
    assert.deepEqual(plan, { fits: true, evict: [A.digest] });
  });

  test('compressed sizes would fit, unpacked ones do not: the unpacked bytes decide', () => {
    // A, B, C and D fetch 10.5 MiB of blobs but take 42 MiB on disk.
    const plan = planRoom(request({ budgetBytes: 35 * MiB, cached: [A, B, C], lastUse: (d) => (d === A.digest ? 0 : 5) }));
    assert.deepEqual(plan, { fits: true, evict: [A.digest] });
  });

  test('an image larger than the whole budget fails without evicting', () => {
    const big = image('e', 200, false);
    const plan = planRoom(request({ budgetBytes: 100 * MiB, cached: [A], incoming: big }));
    assert.equal(plan.fits, false);
    assert.match(plan.fits ? '' : plan.reason, /^image needs 200\.0 MiB, budget 100\.0 MiB, 0 B held/);
  });
});

describe('ImageBudget', () => {
  function budget(
    cached: BudgetImage[],
    opts: { budgetMiB: number; inUse?: string[]; reserved?: string[]; pinned?: string[]; podsRead?: Promise<void> },
  ) {
    const removed: string[] = [];
    const reads = { inUse: 0, reserved: 0 };
    const forgotten: string[] = [];
    const touched: string[] = [];
    const uses = new Map<string, number>();
    let reported = 0;
    const b = new ImageBudget({
      budgetBytes: opts.budgetMiB * MiB,
      cache: {
        list: async () => cached.filter((c) => !removed.includes(c.digest)),
        remove: async (d) => void removed.push(d),
      },
      inUse: async () => {
        reads.inUse++;
        return new Set(opts.inUse ?? []);
      },
      reservedUse: async () => {
        reads.reserved++;
        await opts.podsRead;
        return new Set(opts.reserved ?? []);
      },
      protectedDigests: async () => new Set(opts.pinned ?? []),
      lastUse: {
        get: (d) => uses.get(d) ?? 0,
        touch: (d) => void (touched.push(d), uses.set(d, Date.now())),
        forget: (d) => void uses.delete(d),
      },
      forgetPull: async (d) => void forgotten.push(d),
      onEvicted: () => void reported++,
      logger: createLogger({ service: 'budget-spec', level: 'silent' }),
    });
    return { b, removed, forgotten, touched, reads, reported: () => reported };
  }

  test('evicts an unused, unpinned image, forgets its pull record and reports the change', async () => {
    const t = budget([A, B, C], { budgetMiB: 35, inUse: [A.digest], pinned: [B.digest] });
    const r = await t.b.reserve(D);
    assert.deepEqual(r.evicted, [C.digest]);
    assert.deepEqual(t.removed, [C.digest]);
    assert.deepEqual(t.forgotten, [C.digest]);
    assert.equal(t.reported(), 1);
    assert.deepEqual(t.touched, [A.digest], 'an image seen in use counts as used now');
  });

  test('over budget with everything held: ImageBudgetError, nothing evicted', async () => {
    const t = budget([A, B], { budgetMiB: 25, inUse: [A.digest], pinned: [B.digest] });
    await assert.rejects(
      t.b.reserve(D),
      (e: Error) => e instanceof ImageBudgetError && /held by running or pinned images$/.test(e.message),
    );
    assert.deepEqual(t.removed, []);
    assert.equal(t.reported(), 0);
  });

  test('a pull in flight counts against the budget until released', async () => {
    // C and D share the base: 22 MiB together, 12 MiB each.
    const t = budget([], { budgetMiB: 20 });
    const first = await t.b.reserve(C);
    await assert.rejects(t.b.reserve(D), ImageBudgetError);
    first.release();
    await t.b.reserve(D);
  });

  test('an image that fits without evicting does not wait for the pods to be read; their uses are recorded after', async () => {
    let podsRead!: () => void;
    const t = budget([A], { budgetMiB: 1_000, reserved: [A.digest], podsRead: new Promise<void>((r) => (podsRead = r)) });
    const r = await t.b.reserve(D);
    assert.deepEqual(r.evicted, []);
    assert.deepEqual(t.touched, []);
    podsRead();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(t.touched, [A.digest]);
  });

  test('a pull that evicts nothing reads the reservations only, never the runtime; one that evicts reads both', async () => {
    const roomy = budget([A], { budgetMiB: 1_000, inUse: [A.digest], reserved: [A.digest] });
    await roomy.b.reserve(D);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(roomy.reads, { inUse: 0, reserved: 1 });
    const tight = budget([A, B, C], { budgetMiB: 35, inUse: [A.digest], pinned: [B.digest] });
    await tight.b.reserve(D);
    assert.deepEqual(tight.reads, { inUse: 1, reserved: 0 });
  });
});
