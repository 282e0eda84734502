import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { runTool } from '@warmpod/devkit';
import { imageConfigSchema } from '@warmpod/registry';

/** What a container takes from its image: the unpacked root and the process defaults of the image config. */
export interface UnpackedImage {
  reference: string;
  rootfs: string;
  entrypoint: string[];
  cmd: string[];
  env: string[];
  cwd: string;
  user: string;
}

const descriptor = z
  .object({ digest: z.string().regex(/^sha256:[a-f0-9]{64}$/), annotations: z.record(z.string(), z.string()).optional() })
  .passthrough();
const index = z.object({ manifests: z.array(descriptor) }).passthrough();
const manifest = z.object({ config: descriptor }).passthrough();

/**
 * Pulls an image from a registry as a kubelet would (skopeo, by the
 * reference the chart rendered, digest-pinned or not) into an OCI layout and
 * unpacks it with umoci, once per reference.
 */
export class ImageUnpacker {
  private readonly unpacked = new Map<string, Promise<UnpackedImage>>();
  private count = 0;

  constructor(
    private readonly dir: string,
    private readonly opts: { insecure: boolean },
  ) {}

  get(reference: string): Promise<UnpackedImage> {
    let p = this.unpacked.get(reference);
    if (!p) {
      p = this.pull(reference, `i${this.count++}`);
      this.unpacked.set(reference, p);
    }
    return p;
  }

  private async pull(reference: string, name: string): Promise<UnpackedImage> {
    const layout = join(this.dir, 'layout');
    const bundle = join(this.dir, name);
    await mkdir(layout, { recursive: true });
    const tls = this.opts.insecure ? ['--src-tls-verify=false'] : [];
    await runTool('skopeo', ['copy', '--quiet', ...tls, `docker://${reference}`, `oci:${layout}:${name}`], 300_000);
    await runTool('umoci', ['unpack', '--image', `${layout}:${name}`, bundle], 300_000);
    const blob = async (digest: string) =>
      JSON.parse(await readFile(join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)), 'utf8')) as unknown;
    const entry = index
      .parse(JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')))
      .manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === name);
    if (!entry) throw new Error(`${reference}: the pulled layout has no manifest tagged ${name}`);
    const config = imageConfigSchema.parse(await blob(manifest.parse(await blob(entry.digest)).config.digest)).config ?? {};
    return {
      reference,
      rootfs: join(bundle, 'rootfs'),
      entrypoint: config.Entrypoint ?? [],
      cmd: config.Cmd ?? [],
      env: config.Env ?? [],
      cwd: config.WorkingDir || '/',
      user: config.User ?? '',
    };
  }
}
