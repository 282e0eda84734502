import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { readOwnJson, writeFileAtomic } from '../files';
import { CRIU_MODES, type CriuMode } from './criu-mode';
import { CRIU_NETWORK_LOCKS, type CriuNetworkLock } from './criu-network-lock';

/** What a measured mode holds for: the same boot, kernel and CRIU binary. */
export interface CriuCapabilityKey {
  bootId: string;
  kernel: string;
  criuPath: string;
  criuVersion: string;
}

const entrySchema = z.object({
  bootId: z.string(),
  kernel: z.string(),
  criuPath: z.string(),
  criuVersion: z.string(),
  mode: z.enum(CRIU_MODES),
  // An entry from before the lock was measured fails here and is measured anew.
  networkLock: z.enum(CRIU_NETWORK_LOCKS),
  measuredAt: z.string(),
});

/** How CRIU runs on this machine, as measured. */
export interface CriuWorkingSettings {
  mode: CriuMode;
  networkLock: CriuNetworkLock;
}

/**
 * The last working CRIU mode and network lock of this machine, in a small JSON file, so an
 * agent restart does not pay `criu check` and the probe (or a probe's hang
 * deadline) again. Only a working mode is kept: a failure is measured anew.
 */
export class CriuCapabilityCache {
  constructor(private readonly path: string) {}

  async get(key: CriuCapabilityKey): Promise<CriuWorkingSettings | undefined> {
    const e = await readOwnJson(this.path, entrySchema);
    if (!e) return undefined;
    const same = e.bootId === key.bootId && e.kernel === key.kernel && e.criuPath === key.criuPath && e.criuVersion === key.criuVersion;
    return same ? { mode: e.mode, networkLock: e.networkLock } : undefined;
  }

  async put(key: CriuCapabilityKey, { mode, networkLock }: CriuWorkingSettings): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.path, `${JSON.stringify({ ...key, mode, networkLock, measuredAt: new Date().toISOString() })}\n`, 0o600);
  }
}

/** This boot's id: a reboot (new kernel state, maybe new firmware settings) measures again. */
export async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => 'unknown')).trim();
}
