/**
 * The best `limit` slots by score, kept sorted while a scan offers every
 * feasible node; equal scores rank by `tieKey` (ascending) so that plans are
 * deterministic whatever order the nodes were registered in.
 */
export class TopCandidates {
  readonly slots: Int32Array;
  readonly scores: Float64Array;
  size = 0;

  constructor(
    private readonly limit: number,
    private readonly tieKey: (slot: number) => string,
  ) {
    this.slots = new Int32Array(Math.max(limit, 1));
    this.scores = new Float64Array(Math.max(limit, 1));
  }

  offer(slot: number, score: number): void {
    const { limit, slots, scores } = this;
    if (limit <= 0) return;
    if (this.size === limit) {
      const worst = scores[limit - 1];
      if (score < worst) return;
      if (score === worst && this.tieKey(slot) >= this.tieKey(slots[limit - 1])) return;
    }
    let i = this.size < limit ? this.size++ : limit - 1;
    while (i > 0 && this.before(slot, score, slots[i - 1], scores[i - 1])) {
      slots[i] = slots[i - 1];
      scores[i] = scores[i - 1];
      i--;
    }
    slots[i] = slot;
    scores[i] = score;
  }

  private before(slot: number, score: number, otherSlot: number, otherScore: number): boolean {
    return score > otherScore || (score === otherScore && this.tieKey(slot) < this.tieKey(otherSlot));
  }
}
