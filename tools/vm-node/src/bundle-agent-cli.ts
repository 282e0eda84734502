import { bundleWorkerAgent } from './agent-bundle';

// `npm run build` and bootstrap.sh run this after `tsc -b`: the VM node boots the bundle.
bundleWorkerAgent().then(
  (b) => console.log(`worker agent bundle: ${b.path} (${(b.bytes / 1e6).toFixed(1)} MB, ${b.buildMs} ms)`),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
