import type { BenchCluster } from './bench-cluster';

/** How often the observed cluster's services are scraped: a busy Prometheus (its default is 60 s, 15 s common). */
export const SCRAPE_EVERY_MS = 5_000;

/**
 * What watches the observed cluster while the benchmark runs, as in a
 * deployment someone looks at: a follower of the tenant's event stream (the
 * cluster page's feed) and a scraper of the gateway's, the scheduler's and
 * the prepuller's `/metrics` (the agents' need a client certificate of the
 * cluster CA; they are scraped no less cheaply). Counts what it saw, so
 * the run shows both were live.
 */
export class StartObservers {
  events = 0;
  scrapes = 0;
  private readonly abort = new AbortController();
  private timer?: NodeJS.Timeout;
  private following?: Promise<void>;

  constructor(private readonly bench: BenchCluster) {}

  async start(): Promise<void> {
    const res = await fetch(`${this.bench.cluster.gatewayUrl}/v1/events`, {
      headers: { authorization: `Bearer ${this.bench.token}`, accept: 'text/event-stream' },
      signal: this.abort.signal,
    });
    if (res.status !== 200 || !res.body) throw new Error(`GET /v1/events: HTTP ${res.status}`);
    this.following = this.count(res.body).catch((error: unknown) => {
      if (!this.abort.signal.aborted) throw error;
    });
    this.timer = setInterval(() => void this.scrape(), SCRAPE_EVERY_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.abort.abort();
    await this.following;
  }

  /** Counts the `id:` lines of the stream: one per event. */
  private async count(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let rest = '';
    for await (const chunk of body) {
      const lines = (rest + decoder.decode(chunk, { stream: true })).split('\n');
      rest = lines.pop() ?? '';
      this.events += lines.filter((line) => line.startsWith('id:')).length;
    }
  }

  private async scrape(): Promise<void> {
    const { cluster } = this.bench;
    const urls = [cluster.gatewayUrl, cluster.schedulerHttpUrl, cluster.prepullerHttpUrl].map((base) => `${base}/metrics`);
    const answers = await Promise.all(
      urls.map((url) =>
        fetch(url, { signal: this.abort.signal }).then(
          async (res) => {
            await res.text();
            return res.status === 200;
          },
          () => false,
        ),
      ),
    );
    if (answers.every(Boolean)) this.scrapes++;
  }
}

/** The HTTP status of each service's `/metrics` (200: metrics on, 404: off). */
export async function metricsStatus(bench: BenchCluster): Promise<number[]> {
  const { cluster } = bench;
  return Promise.all(
    [cluster.gatewayUrl, cluster.schedulerHttpUrl, cluster.prepullerHttpUrl].map(async (base) => {
      const res = await fetch(`${base}/metrics`);
      await res.text();
      return res.status;
    }),
  );
}
