import { join, resolve } from 'node:path';
import { LocalRegistry } from '@warmpod/devkit';
import { buildImages } from './build-images';
import { DEFAULT_REGISTRY, formatBytes, parseImagesArgs } from './image-plan';

const REPO_ROOT = resolve(__dirname, '..', '..', '..');

async function answers(registry: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${registry}/v2/`, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

/**
 * `npm run images [-- --registry HOST:PORT]`: builds the four service images
 * and pushes them. Without --registry they go to the local registry of
 * `npm start` (127.0.0.1:5000); when it is not running, one is started on its
 * storage for the push and stopped after, so `npm start` serves the images later.
 */
async function main(): Promise<void> {
  const args = parseImagesArgs(process.argv.slice(2));
  let started: LocalRegistry | undefined;
  if (args.push && args.registry === DEFAULT_REGISTRY && !(await answers(args.registry))) {
    const storageDir = join(REPO_ROOT, '.warmpod', 'cluster', 'registry');
    console.log(`no registry answers at ${args.registry}: starting the local one on ${storageDir} for the push`);
    started = await LocalRegistry.start({ storageDir, port: Number(DEFAULT_REGISTRY.split(':')[1]) });
  }
  try {
    const report = await buildImages(REPO_ROOT, join(REPO_ROOT, '.warmpod', 'images'), args, (line) => console.log(`[images] ${line}`));
    console.log('');
    for (const image of report.images) {
      const total = image.layers.reduce((sum, l) => sum + l.size, 0);
      console.log(`${image.reference}@${image.digest}  (${formatBytes(total)} compressed)`);
      for (const layer of image.layers) console.log(`  ${layer.what.padEnd(11)} ${formatBytes(layer.size).padStart(10)}  ${layer.digest}`);
    }
    console.log(`\nbuilt ${report.images.length} image(s) in ${report.seconds.toFixed(1)} s`);
  } finally {
    await started?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(`images: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
