import { randomBytes } from 'node:crypto';
import { lutimes, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { run } from './run';

const descriptor = z.object({ mediaType: z.string(), digest: z.string().regex(/^sha256:[a-f0-9]{64}$/), size: z.number().int() });
const indexSchema = z.object({
  manifests: z.array(descriptor.extend({ annotations: z.record(z.string(), z.string()).optional() })),
});
const manifestSchema = z.object({ config: descriptor, layers: z.array(descriptor) });

export interface ImageConfig {
  user: string;
  entrypoint: string[];
  env: string[];
  workingDir: string;
  labels: Record<string, string>;
  /** ISO time written as the image's and each history entry's `created`: fixed, so rebuilds match. */
  created: string;
}

export interface LayerInfo {
  digest: string;
  /** Compressed bytes, as stored and pushed. */
  size: number;
}

/**
 * The mtime of every file in every layer: a constant, not the build or commit
 * time, so a layer's digest depends on its content only and a new warmpod
 * version changes only the layers whose files changed.
 */
export const FILE_MTIME = new Date(0);

/** Every path under `dir` (relative), directories included, deepest first. */
async function walk(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = join(prefix, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(dir, rel)));
    out.push(rel);
  }
  return out;
}

/** Gives every entry under `dir` (and `dir`) the same mtime: layer tars then depend on content only. */
export async function fixMtimes(dir: string, when: Date, paths?: readonly string[]): Promise<void> {
  for (const rel of paths ?? (await walk(dir))) await lutimes(join(dir, rel), when, when);
  await lutimes(dir, when, when);
}

/**
 * An OCI image layout built with umoci, one layer per `addLayer`: the layer's
 * files are staged in a folder of their own, normalised (fixed mtimes), then
 * copied over the unpacked parent, so umoci's diff holds exactly them.
 */
export class OciLayout {
  private constructor(
    readonly dir: string,
    private readonly workDir: string,
  ) {}

  static async open(dir: string, workDir: string): Promise<OciLayout> {
    if (!(await stat(join(dir, 'oci-layout')).catch(() => undefined))) await run('umoci', ['init', '--layout', dir]);
    await mkdir(workDir, { recursive: true });
    return new OciLayout(dir, workDir);
  }

  /**
   * `to` = `from` (or an empty image) plus one layer made of the files `stage`
   * writes into an empty folder. `createdBy` names the layer in the history.
   */
  async addLayer(
    from: string | undefined,
    to: string,
    createdBy: string,
    created: string,
    stage: (dir: string) => Promise<void>,
  ): Promise<void> {
    const id = randomBytes(4).toString('hex');
    const staging = join(this.workDir, `stage-${id}`);
    const bundle = join(this.workDir, `bundle-${id}`);
    try {
      await mkdir(staging, { recursive: true });
      await stage(staging);
      const when = FILE_MTIME;
      const paths = await walk(staging);
      await fixMtimes(staging, when, paths);
      if (from === undefined) {
        // A rebuild starts the base afresh: an old tag of that name goes first.
        await run('umoci', ['rm', '--image', `${this.dir}:${to}`]).catch(() => undefined);
        await run('umoci', ['new', '--image', `${this.dir}:${to}`]);
      }
      await run('umoci', ['unpack', '--image', `${this.dir}:${from ?? to}`, bundle], { timeoutMs: 600_000 });
      const rootfs = join(bundle, 'rootfs');
      await run('cp', ['-a', '--', `${staging}/.`, rootfs], { timeoutMs: 600_000 });
      // cp touched the parents it wrote into: give them the fixed time too.
      await fixMtimes(rootfs, when, paths);
      await run(
        'umoci',
        ['repack', '--image', `${this.dir}:${to}`, `--history.created=${created}`, `--history.created_by=${createdBy}`, bundle],
        { timeoutMs: 600_000 },
      );
    } finally {
      await rm(staging, { recursive: true, force: true });
      await rm(bundle, { recursive: true, force: true });
    }
  }

  /** Sets the run-time config of `ref` in place (no history entry: it adds no layer). */
  async configure(ref: string, c: ImageConfig): Promise<void> {
    await run('umoci', [
      'config',
      '--image',
      `${this.dir}:${ref}`,
      '--no-history',
      `--created=${c.created}`,
      `--config.user=${c.user}`,
      `--config.workingdir=${c.workingDir}`,
      '--clear=config.entrypoint',
      '--clear=config.cmd',
      ...c.entrypoint.map((a) => `--config.entrypoint=${a}`),
      '--clear=config.env',
      ...c.env.map((e) => `--config.env=${e}`),
      ...Object.entries(c.labels).map(([k, v]) => `--config.label=${k}=${v}`),
      '--os=linux',
      '--architecture=amd64',
    ]);
  }

  /** The manifest digest of a tag in this layout. */
  async manifestDigest(ref: string): Promise<string> {
    const index = indexSchema.parse(JSON.parse(await readFile(join(this.dir, 'index.json'), 'utf8')));
    const found = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref);
    if (!found) throw new Error(`the layout ${this.dir} has no image tagged ${ref}`);
    return found.digest;
  }

  /** The layers of a tag, base first, with their compressed sizes. */
  async layers(ref: string): Promise<LayerInfo[]> {
    const digest = await this.manifestDigest(ref);
    const blob = join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
    const manifest = manifestSchema.parse(JSON.parse(await readFile(blob, 'utf8')));
    return manifest.layers.map((l) => ({ digest: l.digest, size: l.size }));
  }

  /** Pushes a tag with skopeo (plain HTTP for a loopback registry) and returns the digest the registry stored. */
  async push(ref: string, destination: string, insecure: boolean): Promise<string> {
    const digestFile = join(this.workDir, `digest-${randomBytes(4).toString('hex')}`);
    try {
      await run(
        'skopeo',
        [
          'copy',
          '--quiet',
          `--dest-tls-verify=${!insecure}`,
          '--digestfile',
          digestFile,
          `oci:${this.dir}:${ref}`,
          `docker://${destination}`,
        ],
        { timeoutMs: 600_000 },
      );
      return (await readFile(digestFile, 'utf8')).trim();
    } finally {
      await rm(digestFile, { force: true });
    }
  }

  async gc(): Promise<void> {
    await run('umoci', ['gc', '--layout', this.dir]);
  }
}
