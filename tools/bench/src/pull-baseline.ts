import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** CPU seconds of this process's waited-for children so far (cutime + cstime of /proc/self/stat). */
function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

/**
 * The tools' way of getting an image ready to run on this machine: `skopeo copy`
 * from the registry into an OCI layout, then `umoci unpack` of the whole root.
 * Returns the CPU seconds those two used (the registry's own CPU is the caller's to add).
 */
export function skopeoUmociCpuSeconds(registryHost: string, image: string, workDir: string): { cpu: number; ms: number } {
  const layout = join(workDir, 'baseline-layout');
  const bundle = join(workDir, 'baseline-bundle');
  const before = childrenCpuSeconds();
  const started = Date.now();
  try {
    execFileSync('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registryHost}/${image}`, `oci:${layout}:baseline`], {
      stdio: 'ignore',
    });
    execFileSync('umoci', ['unpack', '--image', `${layout}:baseline`, bundle], { stdio: 'ignore' });
    return { cpu: childrenCpuSeconds() - before, ms: Date.now() - started };
  } finally {
    rmSync(layout, { recursive: true, force: true });
    rmSync(bundle, { recursive: true, force: true });
  }
}
