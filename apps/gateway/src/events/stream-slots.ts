/**
 * Open event streams per tenant on this replica: a stream takes a slot while
 * it is open; with none left the request is refused (429) before anything
 * is written.
 */
export class StreamSlots {
  private readonly open = new Map<string, number>();

  constructor(private readonly perTenant: number) {}

  /** A release function, or undefined when the tenant has no slot left. */
  take(tenant: string): (() => void) | undefined {
    const n = this.open.get(tenant) ?? 0;
    if (n >= this.perTenant) return undefined;
    this.open.set(tenant, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(tenant) ?? 1) - 1;
      if (left === 0) this.open.delete(tenant);
      else this.open.set(tenant, left);
    };
  }

  count(tenant: string): number {
    return this.open.get(tenant) ?? 0;
  }
}
