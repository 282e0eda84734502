import type { E2eCluster } from '../support';

/** One pod asked for under one Idempotency-Key, retried with that same key until it gets an answer. */
export interface Submission {
  n: number;
  key: string;
  /** Every pod id an answer named for this key (more than one would be a duplicate). */
  ids: Set<string>;
  attempts: number;
  /** A clean 4xx: refused, nothing to expect. */
  refused?: string;
  /** No answer before the deadline. */
  unanswered?: boolean;
}

const RETRY_MS = 200;

/**
 * A bounded load of pod submissions through the gateway, as a careful client
 * sends them: each with its own Idempotency-Key and a label naming it, and
 * retried with the same key on a connection error, a 5xx or a 429 (a
 * gateway killed mid-admission, Redis restarting), so a fault may delay a
 * pod but never excuse losing or doubling it.
 */
export class PodLoad {
  readonly submissions: Submission[] = [];
  private seq = 0;

  constructor(
    private readonly e: E2eCluster,
    private readonly tag: string,
  ) {}

  /** Submits `count` pods, `parallel` at a time; `onAccepted` hears of every first acceptance (fault triggers). */
  async submit(count: number, opts: { parallel?: number; deadlineMs?: number; onAccepted?: (n: number) => void } = {}): Promise<void> {
    const todo = Array.from({ length: count }, () => this.next());
    let accepted = 0;
    const worker = async (): Promise<void> => {
      for (let s = todo.shift(); s; s = todo.shift()) {
        await this.send(s, opts.deadlineMs ?? 90_000);
        if (s.ids.size > 0) opts.onAccepted?.(++accepted);
      }
    };
    await Promise.all(Array.from({ length: opts.parallel ?? 4 }, worker));
  }

  /** Pods of earlier rounds, checked and deleted (so a long run stays within the nodes' capacity). */
  readonly retired = new Set<string>();

  /** Pod ids accepted and not retired (one per key unless the gateway doubled one). */
  acceptedIds(): string[] {
    return this.submissions.flatMap((s) => [...s.ids]).filter((id) => !this.retired.has(id));
  }

  /** Sends every accepted key once more: a replay must name the same pod. Returns the keys that got another answer. */
  async replayAll(): Promise<string[]> {
    const wrong: string[] = [];
    for (const s of this.submissions.filter((x) => x.ids.size === 1)) {
      const res = await this.e.api('/v1/pods', {
        method: 'POST',
        body: JSON.stringify(this.body(s)),
        headers: { 'idempotency-key': s.key },
      });
      const json = (await res.json()) as { id?: string };
      if (res.status !== 202 || json.id === undefined || !s.ids.has(json.id)) wrong.push(`${s.key}: ${res.status} ${json.id ?? ''}`);
    }
    return wrong;
  }

  private next(): Submission {
    const n = ++this.seq;
    const s: Submission = { n, key: `${this.tag}-${String(n).padStart(4, '0')}`, ids: new Set(), attempts: 0 };
    this.submissions.push(s);
    return s;
  }

  private body(s: Submission): unknown {
    // Both restart policies: a Never pod must survive every fault where it runs, too.
    return {
      image: 'warmpod/sleeper:latest',
      resources: { cpu: 0.1, memoryMiB: 32 },
      restartPolicy: s.n % 2 === 0 ? 'Always' : 'Never',
      labels: { 'chaos-key': s.key },
    };
  }

  private async send(s: Submission, deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    const body = JSON.stringify(this.body(s));
    while (Date.now() < deadline) {
      s.attempts++;
      try {
        const res = await this.e.api('/v1/pods', { method: 'POST', body, headers: { 'idempotency-key': s.key } });
        const json = (await res.json().catch(() => ({}))) as { id?: string; error?: { code?: string } };
        if ((res.status === 202 || res.status === 200) && json.id) {
          s.ids.add(json.id);
          return;
        }
        if (res.status >= 400 && res.status < 500 && res.status !== 429) {
          s.refused = `${res.status} ${json.error?.code ?? ''}`.trim();
          return;
        }
      } catch {
        // The gateway is down or restarting: the same key again shortly.
      }
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
    s.unanswered = true;
  }
}
