import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { buildImage, dropKeys, redisUrl, RegistryProxy } from '@warmpod/devkit';
import { LocalCluster, type ClusterNodeSpec } from '@warmpod/local-cluster';
import { counterDelta, imageBlobBytes, peerCounters, wideRows } from './prepull-peers';
import { pinTimeline } from './prepull-timeline';
import { skopeoUmociCpuSeconds } from './pull-baseline';
import { printResults } from './result-lines';
import { table } from './stats';

/**
 * `npm run bench:prepull`: 4 local nodes warmed with one image of 200+ MB in
 * several layers. In one run: one node pulling it alone; all 4 through one
 * pin within a cluster budget of 4 (a second image of the same shape, so
 * every node fetches it cold); the registry's blob GETs per node, counted by
 * a proxy in front of it; re-pin of a rebuilt image that shares all but
 * its top layer, to all nodes ready on the new digest (only that layer is
 * fetched and unpacked); and the CPU per GB of the one-node pull next to
 * `skopeo copy` + `umoci unpack` of the same image on the same machine.
 */
const NODES = 4;
const BUDGET = 4;
const PAD_LAYERS = Number(process.argv[2] ?? 4);
const PAD_BYTES = Number(process.argv[3] ?? 52_000_000);
const MB = 1_000_000;

interface PinJson {
  id: string;
  digest: string;
  nodes: Array<{ node: string; state: string; reason?: string }>;
}

function nodeSpecs(): ClusterNodeSpec[] {
  return Array.from({ length: NODES }, (_, i) => ({
    id: `node-${i + 1}`,
    cpu: 2,
    memoryMiB: 2048,
    gpu: 0,
    labels: { idx: String(i + 1) },
    bridge: `wpb-node-${i + 1}`,
    subnet: `10.78.${i + 1}.0/24`,
    // A whole blob must arrive within the agent's registry timeout: a GB image's layers, 4 nodes at once, on 2 CPUs take longer than the default.
    env: { REGISTRY_TIMEOUT_MS: '600000' },
  }));
}

/**
 * Which node agent owns a loopback connection, from its source port: the
 * socket's inode in /proc/net/tcp, then the agent whose fds include it.
 */
function connectionOwner(proxyPort: () => number, agents: Map<number, string>) {
  return async (remotePort: number): Promise<string | undefined> => {
    const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
    const local = `:${hex(remotePort)}`;
    const remote = `:${hex(proxyPort())}`;
    let inode: string | undefined;
    for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
      for (const line of (await readFile(file, 'utf8').catch(() => '')).split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f[1]?.endsWith(local) && f[2]?.endsWith(remote)) inode = f[9];
      }
    }
    if (!inode) return undefined;
    for (const [pid, node] of agents) {
      for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
        if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === `socket:[${inode}]`) return node;
      }
    }
    return undefined;
  };
}

/** CPU seconds used so far by these processes and their finished children. */
async function processCpuSeconds(pids: readonly number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // Fields after "(comm)": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i] ?? 0), 0);
  }
  return ticks / 100;
}

/**
 * CPU time used so far by this cluster's processes (services and agents with
 * their finished children, such as umoci; the registry) and by this process
 * (the counting proxy), in seconds. Other work on the machine is left out.
 */
async function clusterCpuSeconds(pids: readonly number[]): Promise<number> {
  const own = process.cpuUsage();
  return (await processCpuSeconds(pids)) + (own.user + own.system) / 1e6;
}

/** What each agent logged for its pulls ahead of use: digest -> node -> ms (pull job start to image ready). */
async function agentPullTimes(logDir: string): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  for (const file of (await readdir(logDir)).filter((f) => /^node-\d+\.log$/.test(f))) {
    for (const line of (await readFile(join(logDir, file), 'utf8')).split('\n')) {
      if (!line.includes('image pulled ahead of use')) continue;
      const entry = JSON.parse(line) as { node: string; digest: string; ms: number };
      const byNode = out.get(entry.digest) ?? new Map<string, number>();
      byNode.set(entry.node, entry.ms);
      out.set(entry.digest, byNode);
    }
  }
  return out;
}

/** This cluster's processes: services and agents (by their environment; agents with their node id), and its registry (by its config path). */
async function clusterProcesses(
  prefix: string,
  workDir: string,
): Promise<{ pids: number[]; agents: Map<number, string>; registry: number[] }> {
  const pids: number[] = [];
  const agents = new Map<number, string>();
  const registry: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const env = (await readFile(`/proc/${name}/environ`, 'utf8').catch(() => '')).split('\0');
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    const node = env.find((v) => v.startsWith('NODE_ID='))?.slice('NODE_ID='.length);
    if (env.includes(`WARMPOD_PREFIX=${prefix}`)) {
      pids.push(Number(name));
      if (node) agents.set(Number(name), node);
    } else if (cmdline.includes(join(workDir, 'registry'))) {
      pids.push(Number(name));
      registry.push(Number(name));
    }
  }
  return { pids, agents, registry };
}

async function main(): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), 'warmpod-bench-'));
  const token = `bench-${randomBytes(8).toString('hex')}`;
  const prefix = `bench${randomBytes(2).toString('hex')}:`;
  const run = randomBytes(4).toString('hex');
  const cluster = await LocalCluster.start({
    root: resolve(__dirname, '..', '..', '..'),
    workDir,
    redisUrl: redisUrl(),
    prefix,
    gatewayPort: 0,
    registryPort: 0,
    tokens: { [token]: 'bench' },
    nodes: nodeSpecs(),
    // Info, into the log files: the agents' own pull times are read back from them.
    logLevel: 'info',
    env: { PREPULL_CLUSTER_BUDGET: String(BUDGET), PREPULL_PER_NODE: '1' },
  });
  let proxy: RegistryProxy | undefined;
  try {
    const processes = await clusterProcesses(prefix, workDir);
    const port = () => Number(proxy!.host.split(':')[1]);
    // (d) counts what pulls and unpacks on each side: node-1's agent (with its children) and the registry it pulls
    // from, as the baseline counts skopeo, umoci and the registry. The idle services and other agents are not
    // part of a pull (the whole cluster's CPU is in the notes).
    const puller = [...[...processes.agents].filter(([, node]) => node === 'node-1').map(([pid]) => pid), ...processes.registry];
    proxy = await RegistryProxy.start({ target: cluster.registryHost, identify: connectionOwner(port, processes.agents) });
    const api = async <T>(path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${cluster.gatewayUrl}${path}`, {
        method: body ? 'POST' : 'GET',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };
    const build = (name: string, seedOf: string, top: string) =>
      buildImage({
        registryHost: cluster.registryHost,
        name,
        tag: 'v1',
        workDir: join(workDir, 'build'),
        cmd: ['sleep', '3600'],
        padLayers: Array.from({ length: PAD_LAYERS }, (_, i) => ({ bytes: PAD_BYTES, seed: `${seedOf}-${run}-${i}` })),
        files: { '/etc/build': top },
      });
    /** Pins `name:v1` and waits until every node of `nodes` is ready on it: ms from the request, and machine CPU seconds used. */
    const warm = async (
      name: string,
      nodes: string[],
      nodeSelector?: Record<string, string>,
    ): Promise<{ ms: number; sent: number; cpu: number; benchCpu: number; pullerCpu: number; pin: PinJson }> => {
      const sent = Date.now();
      const cpuBefore = await clusterCpuSeconds(processes.pids);
      const pullerBefore = await processCpuSeconds(puller);
      const ownBefore = process.cpuUsage();
      const pin = await api<PinJson>('/v1/images', { image: `${proxy!.host}/${name}:v1`, ...(nodeSelector ? { nodeSelector } : {}) });
      for (;;) {
        const now = await api<PinJson>(`/v1/images/${pin.id}`);
        const failed = now.nodes.find((n) => n.state === 'failed');
        if (failed) throw new Error(`${name} failed on ${failed.node}: ${failed.reason}`);
        if (nodes.every((id) => now.nodes.some((n) => n.node === id && n.state === 'ready'))) {
          const own = process.cpuUsage(ownBefore);
          const benchCpu = (own.user + own.system) / 1e6;
          const pullerCpu = (await processCpuSeconds(puller)) - pullerBefore;
          return { ms: Date.now() - sent, sent, cpu: (await clusterCpuSeconds(processes.pids)) - cpuBefore, benchCpu, pullerCpu, pin: now };
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const all = nodeSpecs().map((n) => n.id);
    const blobGets = (): number => proxy!.requests.filter((r) => r.kind === 'blob' && r.method === 'GET').length;

    process.stdout.write(`building two images of ${PAD_LAYERS} x ${(PAD_BYTES / MB).toFixed(0)} MB...\n`);
    const soloDigest = await build('bench/solo', 'solo', 'one');
    await build('bench/wide', 'wide', 'one');
    const layers = PAD_LAYERS + 2;
    const sizeMb = (PAD_LAYERS * PAD_BYTES) / MB;

    const solo = await warm('bench/solo', ['node-1'], { idx: '1' });
    if (solo.pin.digest !== soloDigest) throw new Error('solo pin resolved to another digest');
    const soloGets = blobGets();
    // (b) registry egress of the wide pin: the proxy's blob GETs in that step, and what agents took from and served to peers.
    const redis = new Redis(redisUrl());
    const caFile = join(workDir, 'pki', 'ca.crt');
    const peersBefore = await peerCounters(redis, prefix, caFile, all);
    const wideFrom = proxy.requests.length;
    const wide = await warm('bench/wide', all);
    const wideGets = blobGets() - soloGets;
    const wideRegistry = proxy.requests.slice(wideFrom).filter((r) => r.kind === 'blob' && r.method === 'GET');
    const widePeers = counterDelta(peersBefore, await peerCounters(redis, prefix, caFile, all));
    redis.disconnect();
    const wideImageBytes = await imageBlobBytes(cluster.registryHost, 'bench/wide', wide.pin.digest);
    const wideEgress = wideRegistry.reduce((sum, r) => sum + r.bytes, 0);

    await build('bench/wide', 'wide', 'two');
    const beforeRepin = proxy.requests.length;
    const repin = await warm('bench/wide', all);
    const repinRequests = proxy.requests.slice(beforeRepin).filter((r) => r.kind === 'blob' && r.method === 'GET');
    const repinBytes = repinRequests.reduce((s, r) => s + r.bytes, 0);
    // Requests are not held while the proxy names their node: the names are read once all are known.
    await proxy.identified();

    // (d) The tools' baseline on the solo image, straight from the registry (no proxy).
    const baseCpuBefore = await processCpuSeconds(processes.registry);
    const baseline = skopeoUmociCpuSeconds(cluster.registryHost, 'bench/solo:v1', workDir);
    const baselineCpu = baseline.cpu + (await processCpuSeconds(processes.registry)) - baseCpuBefore;
    const gb = (PAD_LAYERS * PAD_BYTES) / 1e9;
    // The pulling agent and the registry; not this process (the counting proxy relays every blob; the polling).
    const cpuPerGb = solo.pullerCpu / gb;
    const baselinePerGb = baselineCpu / gb;

    const fetches = proxy.blobFetches();
    const unknown = fetches.get('unknown');
    const perNode = all.map((node) => {
      const byBlob = fetches.get(node) ?? new Map<string, number>();
      const counts = [...byBlob.values()];
      const bytes = proxy!.requests
        .filter((r) => r.client === node && r.kind === 'blob' && r.method === 'GET')
        .reduce((s, r) => s + r.bytes, 0);
      return { node, gets: counts.reduce((s, c) => s + c, 0), distinct: byBlob.size, most: Math.max(0, ...counts), bytes };
    });

    const ratio = wide.ms / solo.ms;
    const cores = availableParallelism();
    const pullTimes = await agentPullTimes(join(workDir, 'logs'));
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const agentPulls = (digest: string): string => {
      const times = [...(pullTimes.get(digest)?.values() ?? [])];
      if (times.length === 0) return 'agent pull: not logged';
      const lo = Math.min(...times);
      const hi = Math.max(...times);
      return `agent pull ${times.length === 1 ? s(lo) : `${s(lo)}-${s(hi)}`}`;
    };
    const cpu = (w: { ms: number; cpu: number }) =>
      `cluster CPU ${w.cpu.toFixed(1)} core-s (${(w.cpu / (w.ms / 1000)).toFixed(1)} of ${cores} cores)`;
    console.log(
      `\nprepull benchmark: ${NODES} local nodes on one machine, image ${sizeMb.toFixed(0)} MB in ${layers} layers ` +
        `(${PAD_LAYERS} x ${(PAD_BYTES / MB).toFixed(0)} MB + base + top), cluster pull budget ${BUDGET}\n`,
    );
    console.log(
      table([
        ['step', 'time', 'notes'],
        [
          'one node pulls it alone (node-1)',
          s(solo.ms),
          `pin -> ready; ${soloGets} blob GETs; ${agentPulls(solo.pin.digest)}; ${cpu(solo)}`,
        ],
        [
          `${NODES} nodes through one pin, budget ${BUDGET}`,
          s(wide.ms),
          `${ratio.toFixed(2)}x one node (target <= 1.50x: ${ratio <= 1.5 ? 'met' : 'not met'}); ${wideGets} blob ` +
            `GETs; ${agentPulls(wide.pin.digest)}; ${cpu(wide)}; ` +
            `CPU-bound floor here (cluster CPU / ${cores} cores) ${s((wide.cpu / cores) * 1000)} = ` +
            `${(wide.cpu / cores / (solo.ms / 1000)).toFixed(2)}x one node`,
        ],
        [
          're-pin of the rebuilt tag -> all on new digest',
          s(repin.ms),
          `${repinRequests.length} blob GETs, ${(repinBytes / 1000).toFixed(1)} kB (new top layer and config only); ` +
            `${agentPulls(repin.pin.digest)} (unpack of the new top layer only); ${cpu(repin)}; ` +
            `${(repin.ms / solo.ms).toFixed(3)} of one node's full pull (target <= 0.05)`,
        ],
        [
          'CPU per GB pulled + unpacked (one node)',
          `${cpuPerGb.toFixed(2)} core-s/GB`,
          `skopeo copy + umoci unpack of the same image: ${baselinePerGb.toFixed(2)} core-s/GB ` +
            `(${s(baseline.ms)} wall; node-1's agent vs skopeo + umoci, registry CPU on both sides, the bench's proxy on neither; ` +
            `whole cluster during the pull ${((solo.cpu - solo.benchCpu) / gb).toFixed(2)} core-s/GB); ratio ${(cpuPerGb / baselinePerGb).toFixed(2)}`,
        ],
      ]),
    );
    console.log("\nre-pin timeline, from the pin request (services' logs)\n");
    console.log((await pinTimeline(join(workDir, 'logs'), repin.pin.digest, repin.sent, repin.sent + repin.ms, all)).join('\n'));
    console.log('\nregistry blob GETs per node (whole run: solo, wide, re-pin)\n');
    console.log(
      table([
        ['node', 'blob GETs (distinct blobs)', 'most GETs of one blob'],
        ...perNode.map((p): [string, string, string] => [
          p.node,
          `${p.gets} (${p.distinct}), ${(p.bytes / MB).toFixed(0)} MB`,
          `${p.most}${p.most <= 1 ? ' (each layer at most once)' : ' (REFETCHED)'}`,
        ]),
        ...(unknown ? [['unattributed', `${[...unknown.values()].reduce((s, c) => s + c, 0)}`, '-'] as [string, string, string]] : []),
      ]),
    );
    printResults({
      solo_pull_ms: solo.ms,
      wide_pull_ms: wide.ms,
      wide_over_solo: ratio,
      wide_nodes_count: NODES,
      solo_blob_gets_count: soloGets,
      wide_blob_gets_count: wideGets,
      repin_ms: repin.ms,
      repin_over_full_pull: repin.ms / solo.ms,
      cpu_s_per_gb: cpuPerGb,
      skopeo_umoci_cpu_s_per_gb: baselinePerGb,
      cpu_per_gb_over_umoci: cpuPerGb / baselinePerGb,
      repin_blob_gets_count: repinRequests.length,
      repin_fetched_kb: repinBytes / 1000,
      most_gets_of_one_blob_count: Math.max(0, ...perNode.map((p) => p.most)),
    });
    console.log(`\n(b) ${NODES} nodes through one pin: registry and peers per node (image ${(wideImageBytes / MB).toFixed(1)} MB)\n`);
    console.log(table([['node', 'from the registry', 'between nodes'], ...wideRows(all, wideRegistry, widePeers)]));
    const peerBlobs = [...widePeers.values()];
    printResults({
      registry_egress_over_image_size: wideEgress / wideImageBytes,
      wide_registry_blob_gets_count: wideRegistry.length,
      wide_peer_blobs_count: peerBlobs.reduce((sum, p) => sum + p.fetched, 0),
      wide_peer_mb: peerBlobs.reduce((sum, p) => sum + p.fetchedBytes, 0) / MB,
    });
  } finally {
    await proxy?.stop();
    await cluster.stop();
    await dropPrefix(prefix);
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function dropPrefix(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl());
  try {
    await dropKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
