import { execFile } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadAll } from 'js-yaml';
import { z } from 'zod';

export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
export const CHART_DIR = join(REPO_ROOT, 'deploy', 'helm', 'warmpod');
/** Installed by scripts/bootstrap.sh (ensure_helm), verified by sha256 there. */
export const HELM = join(REPO_ROOT, '.warmpod', 'helm', 'helm');

/** A rendered Kubernetes object: only what every object has is known here; the rest is checked by validate. */
export const k8sObject = z
  .object({ apiVersion: z.string().min(1), kind: z.string().min(1), metadata: z.object({ name: z.string().min(1) }).passthrough() })
  .passthrough();
export type K8sObject = z.infer<typeof k8sObject>;

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs helm with its own throw-away HOME (cache, config, data), so it reads
 * and writes nothing of the machine's. Never throws for a non-zero exit.
 */
export class Helm {
  private constructor(private readonly home: string) {}

  static async open(): Promise<Helm> {
    await access(HELM).catch(() => {
      throw new Error(`${HELM} is missing: run the bootstrap (scripts/bootstrap.sh, ensure_helm) or npm test`);
    });
    return new Helm(await mkdtemp(join(tmpdir(), 'warmpod-helm-')));
  }

  run(args: readonly string[]): Promise<HelmResult> {
    return new Promise((resolvePromise) => {
      execFile(
        HELM,
        args,
        { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: this.home }, maxBuffer: 32 * 1024 * 1024, timeout: 30_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolvePromise({ code, stdout, stderr });
        },
      );
    });
  }

  /** `helm template` with values files (relative to the chart) and --set-json pairs; the objects, or the error text. */
  async template(opts: {
    files?: string[];
    setJson?: Record<string, unknown>;
    namespace?: string;
  }): Promise<{ objects: K8sObject[] } | { error: string }> {
    const args = ['template', 'wp', CHART_DIR, '--namespace', opts.namespace ?? 'warmpod', '--kube-version', '1.30.0'];
    for (const f of opts.files ?? []) args.push('-f', join(CHART_DIR, f));
    for (const [key, value] of Object.entries(opts.setJson ?? {})) args.push('--set-json', `${key}=${JSON.stringify(value)}`);
    const res = await this.run(args);
    if (res.code !== 0) return { error: res.stderr.trim() };
    const objects = loadAll(res.stdout)
      .filter((doc) => doc !== null && doc !== undefined)
      .map((doc, i) => {
        const parsed = k8sObject.safeParse(doc);
        if (!parsed.success) throw new Error(`rendered document #${i + 1} is not a Kubernetes object: ${parsed.error.message}`);
        return parsed.data;
      });
    return { objects };
  }

  async close(): Promise<void> {
    await rm(this.home, { recursive: true, force: true });
  }
}
