import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { WarmpodQueueClient } from '@warmpod/client';
import { LocalRegistry, RedisServer, sampleImages } from '@warmpod/devkit';
import { buildImages, formatBytes, SERVICES } from '@warmpod/images';
import { REPO_ROOT } from './helm';
import { ChartCluster, TENANT_TOKEN } from './testing/chart-cluster';
import { smokePod } from './testing/smoke';

/**
 * `npm run chart:run`: the rendered chart runs here. Builds the four images
 * and pushes them to a registry of the run's own, renders the chart for this
 * machine, runs every pod as runc containers (the harness plays kubelet),
 * posts a pod to the gateway container and follows it to Succeeded on the
 * agent container's node, then stops everything (also on Ctrl-C) and checks
 * that nothing is left. Prints the time of each step and `result:` lines.
 */
async function main(): Promise<void> {
  const t0 = Date.now();
  const steps: Array<[string, number]> = [];
  let mark = Date.now();
  const step = (name: string) => {
    steps.push([name, (Date.now() - mark) / 1000]);
    mark = Date.now();
  };
  const log = (line: string) => console.log(`[chart-run] ${line}`);
  const reuse = process.argv.includes('--reuse-images');
  const unknown = process.argv.slice(2).filter((a) => a !== '--reuse-images');
  if (unknown.length > 0) throw new Error(`unknown argument ${unknown.join(' ')} (only --reuse-images)`);
  const base = join(REPO_ROOT, '.warmpod', 'chart-run');
  const work = join(base, String(process.pid));
  // Kept across runs, with the digests of the last build: --reuse-images skips the build.
  const registry = await LocalRegistry.start({ storageDir: join(base, 'registry') });
  const imagesFile = join(base, 'images.json');
  const redis = await RedisServer.start();
  let cluster: ChartCluster | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      const failures: string[] = [];
      if (cluster) {
        const swept = await cluster.stop().catch((e: unknown) => {
          failures.push(String(e));
          return [];
        });
        if (swept.length > 0) log(`the node sweep removed what the node keeps across agent restarts: ${swept.join(', ')}`);
        const left = await cluster.leftovers();
        if (left.length > 0) failures.push(`left behind: ${left.join(', ')}`);
        else log('nothing left behind: no runc container, mount, netns, bridge or cgroup of the run');
      }
      await redis.close();
      await registry.stop();
      await rm(work, { recursive: true, force: true });
      step('stop and clean-up');
      if (failures.length > 0) throw new Error(failures.join('; '));
    })());
  process.once('SIGINT', () => {
    log('Ctrl-C: stopping');
    stop().then(
      () => process.exit(130),
      (e: unknown) => {
        console.error(String(e));
        process.exit(1);
      },
    );
  });
  try {
    const digests = reuse ? lastDigests.parse(JSON.parse(await readFile(imagesFile, 'utf8'))) : await build(registry.host, log);
    if (!reuse) await writeFile(imagesFile, JSON.stringify(digests));
    step(reuse ? 'images of the last run' : 'npm run images (build + push)');
    const digest = (name: keyof typeof digests) => digests[name];
    const samples = await sampleImages(registry.host, join(work, 'samples'));
    step('sample pod images');
    cluster = new ChartCluster({
      workDir: join(work, 'cluster'),
      registry: registry.host,
      digests: {
        gateway: digest('gateway'),
        scheduler: digest('scheduler'),
        prepuller: digest('prepuller'),
        'worker-agent': digest('worker-agent'),
      },
      redisUrl: redis.url,
      log,
    });
    await cluster.start();
    step('chart up (pull, unpack, start, ready)');
    const { pod, logs } = await smokePod(cluster.gatewayUrl, TENANT_TOKEN, {
      image: 'warmpod/hello:latest',
      env: { GREETING: 'from the chart' },
    });
    step('smoke pod (post to Succeeded)');
    log(`pod ${pod.id}: ${pod.phase} on ${pod.node ?? 'no node'} (exit ${pod.exitCode ?? '?'}); logs: ${JSON.stringify(logs.trim())}`);
    if (pod.phase !== 'Succeeded' || pod.node !== cluster.nodeName || !logs.includes('from the chart')) {
      for (const c of cluster.plan?.containers ?? []) log(`--- ${c.pod} ---\n${await cluster.logOf(c.pod)}`);
      throw new Error(`the smoke pod did not succeed on ${cluster.nodeName}`);
    }
    // The same through the queue door (gateway.intake.*): a run-pod job on team-a's intake queue, as its own Redis user.
    const client = new WarmpodQueueClient(cluster.producer!);
    try {
      const viaQueue = await client.runPod({ image: 'warmpod/hello:latest' }, { waitFor: 'Ended', jobId: `chart-run-${process.pid}` });
      log(`queue door: pod ${viaQueue.id} ${viaQueue.phase} on ${viaQueue.node ?? 'no node'}`);
      if (viaQueue.phase !== 'Succeeded' || viaQueue.node !== cluster.nodeName) throw new Error('the queue-door pod did not succeed');
    } finally {
      await client.close();
    }
    step('queue-door pod (job to Succeeded)');
    if (samples.hello === '') throw new Error('no sample image');
    const problems = cluster.problems();
    if (problems.length > 0) throw new Error(`probes: ${problems.join('; ')}`);
  } finally {
    await stop();
  }
  console.log('\n| step | seconds |\n|---|---|');
  for (const [name, s] of steps) console.log(`| ${name} | ${s.toFixed(1)} |`);
  console.log(`result: chart_run_seconds = ${((Date.now() - t0) / 1000).toFixed(1)}`);
  for (const [name, s] of steps) console.log(`result: chart_run_${name.split(' ')[0]!.replace(/[^a-z]/gi, '_')}_seconds = ${s.toFixed(1)}`);
}

const lastDigests = z.object({ gateway: z.string(), scheduler: z.string(), prepuller: z.string(), 'worker-agent': z.string() });

async function build(registry: string, log: (line: string) => void): Promise<z.infer<typeof lastDigests>> {
  const only = SERVICES.map((s) => s.name);
  const report = await buildImages(REPO_ROOT, join(REPO_ROOT, '.warmpod', 'images'), { registry, insecure: true, only, push: true }, (l) =>
    log(`[images] ${l}`),
  );
  for (const image of report.images) {
    log(`${image.reference}@${image.digest}: ${image.layers.map((l) => `${l.what} ${formatBytes(l.size)}`).join(', ')}`);
  }
  return lastDigests.parse(Object.fromEntries(report.images.map((i) => [i.service, i.digest])));
}

main().catch((error: unknown) => {
  console.error(`chart-run: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
