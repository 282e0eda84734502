/** What a service's `/readyz` said: its status and each check (scheduler, prepuller, agent listeners). */
export interface Readiness {
  status: number;
  checks: Record<string, boolean>;
}

/** Polls `url/readyz` until `wanted` holds (deadline 15 s); the answer that did. */
export async function readinessUntil(url: string, wanted: (r: Readiness) => boolean, timeoutMs = 15_000): Promise<Readiness> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { checks?: Record<string, boolean> };
    const r = { status: res.status, checks: body.checks ?? {} };
    if (wanted(r)) return r;
    if (Date.now() > deadline) throw new Error(`${url}/readyz stayed ${JSON.stringify(r)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
