import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LocalRegistry } from '@warmpod/devkit';
import { RegistryClient } from '@warmpod/registry';
import { printResults } from './result-lines';
import { median, table } from './stats';

/**
 * `npm run bench:blob-fetch [MiB] [runs]`: CPU of this process (user + system) per GB
 * of one blob pulled from a local registry (default 256 MiB), median of 3 runs (default)
 * per way: the bare transports (WHATWG `fetch` + `Readable.fromWeb`, which
 * `RegistryClient.fetchBlob` used before, against `node:http`), and
 * `fetchBlob` itself (download + size + sha256 + write to a file). The
 * registry's own CPU is not counted: the same on every row.
 */
const RUNS = Number(process.argv[3] ?? 3);
const sizeBytes = Number(process.argv[2] ?? 256) * 1024 * 1024;
const repository = 'bench/blob';

const discard = () =>
  new Writable({
    highWaterMark: 1 << 20,
    write: (_c, _e, done) => done(),
  });

async function coreSecondsOf(run: () => Promise<void>): Promise<number> {
  const before = process.cpuUsage();
  await run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

async function writeRandom(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  try {
    for (let left = size; left > 0;) {
      const chunk = randomBytes(Math.min(left, 4 << 20));
      hash.update(chunk);
      await file.write(chunk);
      left -= chunk.length;
    }
  } finally {
    await file.close();
  }
  return `sha256:${hash.digest('hex')}`;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wp-blob-bench-'));
  const registry = await LocalRegistry.start({ storageDir: join(dir, 'registry') });
  try {
    const client = new RegistryClient({ insecureRegistries: [], timeoutMs: 30_000 });
    const source = join(dir, 'blob');
    const digest = await writeRandom(source, sizeBytes);
    await client.pushBlob(registry.host, repository, { digest, size: sizeBytes }, source);
    const url = `${registry.url}/v2/${repository}/blobs/${digest}`;
    const ways: Array<[string, string, () => Promise<void>]> = [
      [
        'fetch only: fetch + Readable.fromWeb (before)',
        'web_fetch',
        async () => {
          const res = await fetch(url);
          await pipeline(Readable.fromWeb(res.body as never), discard());
        },
      ],
      [
        'fetch only: node:http',
        'node_http',
        () => new Promise((resolve, reject) => get(url, (res) => pipeline(res, discard()).then(resolve, reject)).on('error', reject)),
      ],
      [
        'fetch + verify + write: the former fetchBlob (fetch)',
        'former_fetch_blob',
        async () => {
          const res = await fetch(url);
          const hash = createHash('sha256');
          const meter = new Transform({
            transform(chunk: Buffer, _enc, done) {
              hash.update(chunk);
              done(null, chunk);
            },
          });
          const dest = join(dir, 'fetched');
          await pipeline(Readable.fromWeb(res.body as never), meter, createWriteStream(dest, { mode: 0o600 }));
          if (`sha256:${hash.digest('hex')}` !== digest) throw new Error('bench blob came back wrong');
          await rm(dest);
        },
      ],
      [
        'fetch + verify + write: RegistryClient.fetchBlob',
        'fetch_blob',
        async () => {
          const dest = join(dir, 'fetched');
          await client.fetchBlob(registry.host, repository, digest, sizeBytes, dest);
          await rm(dest);
        },
      ],
      ['reference: sha256 of the file read from disk', 'file_sha256', () => pipeline(createReadStream(source), createHash('sha256'))],
    ];
    // A warm-up round first, then the ways interleaved round by round: the load of a shared machine drifts.
    for (const [, , run] of ways) await run();
    const samples = ways.map((): number[] => []);
    for (let r = 0; r < RUNS; r++) {
      for (const [i, [, , run]] of ways.entries()) samples[i]!.push((await coreSecondsOf(run)) / (sizeBytes / 1e9));
    }
    const rows = [['way', `core-s per GB (median of ${RUNS})`, 'runs']];
    const results: Record<string, number> = {};
    for (const [i, [name, key]] of ways.entries()) {
      const sample = samples[i]!;
      rows.push([name, median(sample).toFixed(2), sample.map((s) => s.toFixed(2)).join(' ')]);
      results[`${key}_core_s_per_gb`] = median(sample);
    }
    console.log(`blob of ${(sizeBytes / 1048576).toFixed(0)} MiB from a local registry, CPU of this process only\n`);
    console.log(table(rows));
    printResults(results);
  } finally {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
