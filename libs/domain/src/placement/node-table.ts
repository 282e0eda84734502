import type { Resources } from '../pod-spec';
import { NodeSets } from './node-sets';
import { REJECTION_REASONS, type PodPlacementRequest, type RejectionReason } from './types';

const EPSILON = 1e-9;
/** `state` flags per slot: 0 is a free slot; exactly LIVE is a usable node. */
const EMPTY = 0;
const LIVE = 1;
const NOT_READY = 2;
const CORDONED = 4;

const reasonIndex = (reason: RejectionReason) => REJECTION_REASONS.indexOf(reason);
const R_NOT_READY = reasonIndex('not ready');
const R_CORDONED = reasonIndex('cordoned');
const R_SELECTOR = reasonIndex('node selector mismatch');
const R_CAPABILITY = reasonIndex('missing capability');
const R_CPU = reasonIndex('insufficient cpu');
const R_MEMORY = reasonIndex('insufficient memory');
const R_GPU = reasonIndex('insufficient gpu');

/**
 * Dense per-node columns (typed arrays indexed by slot) so that filtering
 * 5,000 nodes is a tight loop over numbers. Slots of removed nodes are reused.
 */
export class NodeTable {
  readonly ids: string[] = [];
  /** `key=value` -> nodes with that label; capability -> nodes with it. */
  private readonly labelSets = new NodeSets(64);
  private readonly capabilitySets = new NodeSets(64);
  private readonly labelKeys: string[][] = [];
  private readonly capabilityKeys: string[][] = [];
  /** Scratch: nodes matching the selector of the current filter. */
  private selectorMask = new Uint32Array(2);
  /** Slots in use are below this mark. */
  highWater = 0;
  private readonly slotOf = new Map<string, number>();
  private readonly freeSlots: number[] = [];
  private capacity = 0;
  state = new Uint8Array(0);
  capCpu = new Float64Array(0);
  capMem = new Float64Array(0);
  capGpu = new Float64Array(0);
  /** Confirmed allocations (from the store). */
  allocCpu = new Float64Array(0);
  allocMem = new Float64Array(0);
  allocGpu = new Float64Array(0);
  /** Capacity minus confirmed allocations minus local reservations: what the filters compare. */
  freeCpu = new Float64Array(0);
  freeMem = new Float64Array(0);
  freeGpu = new Float64Array(0);
  localCpu = new Float64Array(0);
  localMem = new Float64Array(0);
  localGpu = new Float64Array(0);
  /** Feasible slots of the last `filter` call, as a list and as a bitset. */
  feasible = new Int32Array(0);
  feasibleBits = new Uint32Array(0);
  readonly rejectionCounts = new Int32Array(REJECTION_REASONS.length);

  constructor(initialSlots = 64) {
    this.grow(initialSlots);
  }

  get size(): number {
    return this.slotOf.size;
  }

  slot(id: string): number | undefined {
    return this.slotOf.get(id);
  }

  /** Slot for a node, allocating one when new; `isNew` tells which. */
  acquire(id: string): { slot: number; isNew: boolean } {
    const existing = this.slotOf.get(id);
    if (existing !== undefined) return { slot: existing, isNew: false };
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      if (this.highWater === this.capacity) this.grow(this.capacity * 2);
      slot = this.highWater++;
    }
    this.slotOf.set(id, slot);
    this.ids[slot] = id;
    return { slot, isNew: true };
  }

  release(id: string): number | undefined {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return undefined;
    this.slotOf.delete(id);
    this.state[slot] = EMPTY;
    this.setLabels(slot, {}, []);
    this.ids[slot] = '';
    this.freeSlots.push(slot);
    return slot;
  }

  get slotCapacity(): number {
    return this.capacity;
  }

  setLabels(slot: number, labels: Readonly<Record<string, string>>, capabilities: readonly string[]): void {
    for (const key of this.labelKeys[slot] ?? []) this.labelSets.remove(key, slot);
    for (const key of this.capabilityKeys[slot] ?? []) this.capabilitySets.remove(key, slot);
    this.labelKeys[slot] = Object.entries(labels).map(([k, v]) => labelKey(k, v));
    this.capabilityKeys[slot] = [...capabilities];
    for (const key of this.labelKeys[slot]) this.labelSets.add(key, slot);
    for (const key of this.capabilityKeys[slot]) this.capabilitySets.add(key, slot);
  }

  setHealth(slot: number, ready: boolean, cordoned: boolean): void {
    this.state[slot] = LIVE | (ready ? 0 : NOT_READY) | (cordoned ? CORDONED : 0);
  }

  isCordoned(slot: number): boolean {
    return (this.state[slot] & CORDONED) !== 0;
  }

  isReady(slot: number): boolean {
    return (this.state[slot] & NOT_READY) === 0;
  }

  setCapacity(slot: number, capacity: Resources): void {
    this.capCpu[slot] = capacity.cpu;
    this.capMem[slot] = capacity.memoryMiB;
    this.capGpu[slot] = capacity.gpu;
    this.refreshFree(slot);
  }

  setAllocated(slot: number, allocated: Resources): void {
    this.allocCpu[slot] = allocated.cpu;
    this.allocMem[slot] = allocated.memoryMiB;
    this.allocGpu[slot] = allocated.gpu;
    this.refreshFree(slot);
  }

  /** Adds (sign 1) or removes (sign -1) a local reservation; never below zero. */
  addLocal(slot: number, r: Resources, sign: 1 | -1): void {
    this.localCpu[slot] = Math.max(0, this.localCpu[slot] + sign * r.cpu);
    this.localMem[slot] = Math.max(0, this.localMem[slot] + sign * r.memoryMiB);
    this.localGpu[slot] = Math.max(0, this.localGpu[slot] + sign * r.gpu);
    this.refreshFree(slot);
  }

  clearLocal(slot: number): void {
    this.localCpu[slot] = 0;
    this.localMem[slot] = 0;
    this.localGpu[slot] = 0;
    this.refreshFree(slot);
  }

  private refreshFree(slot: number): void {
    this.freeCpu[slot] = this.capCpu[slot] - this.allocCpu[slot] - this.localCpu[slot];
    this.freeMem[slot] = this.capMem[slot] - this.allocMem[slot] - this.localMem[slot];
    this.freeGpu[slot] = this.capGpu[slot] - this.allocGpu[slot] - this.localGpu[slot];
  }

  /**
   * Applies the hard filters to every node: fills `feasible` and returns how
   * many passed; each rejected node counts once, under the first filter it failed.
   */
  filter(req: PodPlacementRequest): number {
    const counts = this.rejectionCounts;
    counts.fill(0);
    const selector = this.selectorBits(req.nodeSelector);
    const capability = req.requireCapability === undefined ? undefined : (this.capabilitySets.bits(req.requireCapability) ?? EMPTY_BITS);
    const { cpu, memoryMiB, gpu } = req.resources;
    const { state, freeCpu, freeMem, freeGpu, feasible, feasibleBits } = this;
    feasibleBits.fill(0);
    let n = 0;
    const end = this.highWater;
    for (let slot = 0; slot < end; slot++) {
      const s = state[slot];
      if (s !== LIVE) {
        if (s & NOT_READY) counts[R_NOT_READY]++;
        else if (s & CORDONED) counts[R_CORDONED]++;
        continue;
      }
      const word = slot >>> 5;
      const bit = 1 << (slot & 31);
      if (selector !== undefined && (selector[word] & bit) === 0) {
        counts[R_SELECTOR]++;
        continue;
      }
      if (capability !== undefined && (word >= capability.length || (capability[word] & bit) === 0)) {
        counts[R_CAPABILITY]++;
        continue;
      }
      if (cpu > freeCpu[slot] + EPSILON) {
        counts[R_CPU]++;
        continue;
      }
      if (memoryMiB > freeMem[slot] + EPSILON) {
        counts[R_MEMORY]++;
        continue;
      }
      if (gpu > freeGpu[slot] + EPSILON) {
        counts[R_GPU]++;
        continue;
      }
      feasible[n++] = slot;
      feasibleBits[word] |= bit;
    }
    return n;
  }

  rejections(): Record<RejectionReason, number> {
    const out = {} as Record<RejectionReason, number>;
    REJECTION_REASONS.forEach((reason, i) => (out[reason] = this.rejectionCounts[i]));
    return out;
  }

  /** Nodes carrying every label of the selector, as a bitset; undefined for an empty selector. */
  private selectorBits(selector: Readonly<Record<string, string>>): Uint32Array | undefined {
    let mask: Uint32Array | undefined;
    for (const key in selector) {
      const bits = this.labelSets.bits(labelKey(key, selector[key])) ?? EMPTY_BITS;
      if (!mask) {
        if (this.selectorMask.length < (this.capacity + 31) >>> 5) this.selectorMask = new Uint32Array((this.capacity + 31) >>> 5);
        mask = this.selectorMask;
        mask.fill(0);
        mask.set(bits.subarray(0, mask.length));
      } else {
        for (let w = 0; w < mask.length; w++) mask[w] &= w < bits.length ? bits[w] : 0;
      }
    }
    return mask;
  }

  /** Share of cpu and memory left free if the pod lands here, averaged, in [0, 1]. */
  freeShareAfter(slot: number, want: Resources): number {
    const cpu = this.capCpu[slot] > 0 ? (this.freeCpu[slot] - want.cpu) / this.capCpu[slot] : 0;
    const mem = this.capMem[slot] > 0 ? (this.freeMem[slot] - want.memoryMiB) / this.capMem[slot] : 0;
    return Math.min(1, Math.max(0, (cpu + mem) / 2));
  }

  private grow(slots: number): void {
    const next = Math.max(slots, 64);
    const copy = <T extends Float64Array | Uint8Array | Int32Array>(old: T, make: (n: number) => T): T => {
      const fresh = make(next);
      fresh.set(old);
      return fresh;
    };
    const f64 = (n: number) => new Float64Array(n);
    this.state = copy(this.state, (n) => new Uint8Array(n));
    this.capCpu = copy(this.capCpu, f64);
    this.capMem = copy(this.capMem, f64);
    this.capGpu = copy(this.capGpu, f64);
    this.allocCpu = copy(this.allocCpu, f64);
    this.allocMem = copy(this.allocMem, f64);
    this.allocGpu = copy(this.allocGpu, f64);
    this.freeCpu = copy(this.freeCpu, f64);
    this.freeMem = copy(this.freeMem, f64);
    this.freeGpu = copy(this.freeGpu, f64);
    this.localCpu = copy(this.localCpu, f64);
    this.localMem = copy(this.localMem, f64);
    this.localGpu = copy(this.localGpu, f64);
    this.feasible = new Int32Array(next);
    this.feasibleBits = new Uint32Array((next + 31) >>> 5);
    this.labelSets.ensureCapacity(next);
    this.capabilitySets.ensureCapacity(next);
    this.capacity = next;
  }
}

const EMPTY_BITS = new Uint32Array(0);

/** Label keys cannot contain NUL, so the pair is unambiguous. */
function labelKey(key: string, value: string): string {
  return `${key}\u0000${value}`;
}
