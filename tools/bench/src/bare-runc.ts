import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The baseline: `runc run -d` of the same unpacked image on this machine,
 * with nothing of warmpod around it (no queue, no overlay, no network).
 * Returns the wall time of each run in ms.
 */
export function bareRuncRuns(unpackedBundle: string, runs: number): number[] {
  const dir = mkdtempSync(join(tmpdir(), 'warmpod-bare-'));
  const root = join(dir, 'runc');
  const base = JSON.parse(readFileSync(join(unpackedBundle, 'config.json'), 'utf8')) as {
    process: { terminal: boolean; args: string[] };
    root: { path: string; readonly?: boolean };
    linux: { cgroupsPath?: string };
  };
  base.process.terminal = false;
  base.process.args = ['sh', '-c', 'exit 0'];
  // The image's layers are separate directories: a bare run needs a one-layer image.
  const layers = readdirSync(join(unpackedBundle, 'lower'));
  if (layers.length !== 1) throw new Error(`bare runc baseline needs a one-layer image, this one has ${layers.length}`);
  base.root = { path: realpathSync(join(unpackedBundle, 'lower', layers[0]!)), readonly: true };
  const times: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const id = `bare-${process.pid}-${i}`;
      base.linux.cgroupsPath = `/${CGROUP_PARENT}/${id}`;
      writeFileSync(join(dir, 'config.json'), JSON.stringify(base));
      const t0 = process.hrtime.bigint();
      execFileSync('runc', ['--root', root, 'run', '-d', '--bundle', dir, id], { stdio: 'ignore' });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      execFileSync('runc', ['--root', root, 'delete', '--force', id], { stdio: 'ignore' });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    removeCgroupParent();
  }
  return times;
}

const CGROUP_PARENT = `warmpod-bench-${process.pid}`;

/** runc removes each container's cgroup, not the parent it was put under. */
function removeCgroupParent(): void {
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    try {
      rmdirSync(join('/sys/fs/cgroup', hierarchy, CGROUP_PARENT));
    } catch {
      // absent in this hierarchy
    }
  }
}
