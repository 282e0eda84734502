/**
 * Pull starts per registry host, as a token bucket per host: `ratePerSecond`
 * tokens a second, up to `burst`. In-process: each prepuller replica has its
 * own buckets, so N replicas allow up to N times the rate.
 */
export class RegistryRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  readonly burst: number;

  constructor(
    private readonly ratePerSecond: number,
    burst?: number,
    private readonly clock: () => number = Date.now,
  ) {
    if (!(ratePerSecond > 0)) throw new Error('registry rate must be positive');
    this.burst = burst ?? Math.max(1, Math.ceil(ratePerSecond));
  }

  /** Tokens available for the host now (fractions count as not yet). */
  available(host: string): number {
    return Math.floor(this.refill(host).tokens);
  }

  /** Takes one token if there is one. */
  tryTake(host: string): boolean {
    const bucket = this.refill(host);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** When (ms) the next token for the host is there; now if one is. */
  nextTokenAt(host: string): number {
    const bucket = this.refill(host);
    if (bucket.tokens >= 1) return bucket.at;
    return bucket.at + Math.ceil(((1 - bucket.tokens) * 1000) / this.ratePerSecond);
  }

  private refill(host: string): { tokens: number; at: number } {
    const now = this.clock();
    let bucket = this.buckets.get(host);
    if (!bucket) {
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(host, bucket);
    } else if (now > bucket.at) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.ratePerSecond) / 1000);
      bucket.at = now;
    }
    return bucket;
  }
}
