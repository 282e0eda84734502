/**
 * Inverted index from a key (image digest, layer digest, checkpoint key) to
 * the set of node slots holding it, one bitset per key. Adding and removing
 * are O(1); iterating a key's holders walks its words, skipping empty ones.
 */
export class NodeSets {
  private readonly sets = new Map<string, Uint32Array>();
  private readonly counts = new Map<string, number>();

  constructor(private slotCapacity: number) {}

  /** Grows every bitset lazily: new ones are created at the current capacity. */
  ensureCapacity(slots: number): void {
    this.slotCapacity = Math.max(this.slotCapacity, slots);
  }

  add(key: string, slot: number): void {
    const word = slot >>> 5;
    let bits = this.sets.get(key);
    if (!bits || bits.length <= word) {
      const grown = new Uint32Array((Math.max(this.slotCapacity, slot + 1) + 31) >>> 5);
      if (bits) grown.set(bits);
      bits = grown;
      this.sets.set(key, bits);
    }
    const mask = 1 << (slot & 31);
    if ((bits[word] & mask) === 0) {
      bits[word] |= mask;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    }
  }

  remove(key: string, slot: number): void {
    const bits = this.sets.get(key);
    if (!bits || bits.length <= slot >>> 5) return;
    const word = slot >>> 5;
    const mask = 1 << (slot & 31);
    if ((bits[word] & mask) === 0) return;
    bits[word] &= ~mask;
    const left = (this.counts.get(key) ?? 1) - 1;
    if (left === 0) {
      this.sets.delete(key);
      this.counts.delete(key);
    } else {
      this.counts.set(key, left);
    }
  }

  has(key: string, slot: number): boolean {
    const bits = this.sets.get(key);
    return bits !== undefined && bits.length > slot >>> 5 && (bits[slot >>> 5] & (1 << (slot & 31))) !== 0;
  }

  /** Number of nodes holding the key. */
  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** The raw bitset for tight loops (undefined when no node holds the key). Do not mutate. */
  bits(key: string): Uint32Array | undefined {
    return this.sets.get(key);
  }

  /**
   * Adds `amount` to `into[slot]` for every slot holding the key that is set
   * in `include` and not in `exclude` (both optional bitsets).
   */
  addTo(key: string, amount: number, into: Float64Array, include?: Uint32Array, exclude?: Uint32Array): void {
    const bits = this.sets.get(key);
    if (!bits) return;
    const words = include ? Math.min(bits.length, include.length) : bits.length;
    for (let w = 0; w < words; w++) {
      let word = bits[w];
      if (include) word &= include[w];
      if (exclude && w < exclude.length) word &= ~exclude[w];
      while (word !== 0) {
        const low = word & -word;
        into[(w << 5) | (31 - Math.clz32(low))] += amount;
        word ^= low;
      }
    }
  }
}

/** True when `slot` is set in a raw bitset from `NodeSets.bits`. */
export function bitIsSet(bits: Uint32Array | undefined, slot: number): boolean {
  return bits !== undefined && bits.length > slot >>> 5 && (bits[slot >>> 5] & (1 << (slot & 31))) !== 0;
}
